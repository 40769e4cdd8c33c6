"""The `flask forum` commands through the CLI runner, against a real database."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from forum.extensions import db
from forum.models import Thread
from tests import factories


def thread_line(title: str, **overrides) -> str:
    item = {
        "title": title,
        "body": "Started aza last month and feel sick after the morning dose.",
        "author": "hedgerow_kate",
        "created": "2024-11-05T08:00:00Z",
        "conditions": ["Crohn's"],
        "medications": ["aza"],
        "replies": [{"author": "Marcus_T", "body": "Taking it with dinner helped me."}],
    }
    item.update(overrides)
    return json.dumps(item)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def thread_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Thread))


def test_import_good_file(runner, tmp_path):
    path = write(tmp_path / "in.jsonl", [thread_line("One"), thread_line("Two")])
    result = runner.invoke(args=["forum", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 threads" in result.stdout
    assert "2 new accounts" in result.stdout
    assert thread_count() == 2


def test_import_keeps_the_apps_start_up_objects_out_of_the_collectors_way(runner, tmp_path):
    """While it imports, the command holds the app's start-up objects frozen: ~10 full
    collections walked them all again (0.6 s of a 5,000-thread import); afterwards they
    are thawed, so a process hosting many apps still collects the ones it drops."""
    import gc

    from forum import transfer

    seen: list[int] = []

    def at_checkpoint(_app, **_kw):
        seen.append(gc.get_freeze_count())

    gc.unfreeze()
    path = write(tmp_path / "in.jsonl", [thread_line("One"), thread_line("Two")])
    with transfer.import_checkpoint.connected_to(at_checkpoint):
        result = runner.invoke(args=["forum", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert seen and min(seen) > 10_000  # frozen during the import
    assert gc.get_freeze_count() == 0  # thawed after


def test_import_twice_creates_no_duplicates(runner, tmp_path):
    path = write(tmp_path / "in.jsonl", [thread_line("One"), thread_line("Two")])
    runner.invoke(args=["forum", "import", str(path)])
    result = runner.invoke(args=["forum", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "Imported 0 threads" in result.stdout
    assert "2 already present" in result.stdout
    assert thread_count() == 2


def test_bad_lines_are_reported_and_the_exit_code_is_non_zero(runner, tmp_path):
    path = write(
        tmp_path / "in.jsonl",
        [
            thread_line("Fine"),
            '{"title": "broken',
            thread_line("Unknown condition", conditions=["Spattergroit"]),
            "",
            thread_line("Also fine"),
        ],
    )
    result = runner.invoke(args=["forum", "import", str(path)])
    assert result.exit_code == 1
    assert "line 2: skipped: bad JSON" in result.stderr
    assert "line 3: skipped: Unknown condition: 'Spattergroit'" in result.stderr
    assert "line 4" not in result.stderr
    assert "Imported 2 threads" in result.stdout and "2 skipped" in result.stdout
    assert set(db.session.scalars(select(Thread.title))) == {"Fine", "Also fine"}


def test_invalid_utf8_is_a_reported_skip(runner, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(thread_line("Fine").encode() + b"\n" + b'{"title": "\xff\xfe"}\n')
    result = runner.invoke(args=["forum", "import", str(path)])
    assert result.exit_code == 1
    assert "line 2: skipped: not valid UTF-8" in result.stderr
    assert thread_count() == 1


def test_pathological_lines_are_numbered_skips_and_the_rest_imports(runner, tmp_path):
    """Deep nesting (RecursionError), a 5000-digit number (ValueError without .msg), NaN,
    lines that are not objects and fields of the wrong type: each one more skipped line."""
    bad = [
        "[" * 100_000 + "]" * 100_000,
        '{"title": ' * 50_000 + "1" + "}" * 50_000,
        '{"title": ' + "9" * 5000 + "}",
        '{"title": "x", "body": NaN}',
        "[]",
        '"just a string"',
        "12",
        thread_line(["a", "list"]),
        thread_line("Wrong replies", replies="all of them"),
        thread_line("Wrong created", created=10**30),
    ]
    path = write(tmp_path / "in.jsonl", [thread_line("Before"), *bad, thread_line("After")])
    result = runner.invoke(args=["forum", "import", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "line 2: skipped: bad JSON (nested too deeply)" in result.stderr
    assert "line 3: skipped: bad JSON (nested too deeply)" in result.stderr
    assert "line 4: skipped: bad JSON (a number with too many digits)" in result.stderr
    assert "line 5: skipped: bad JSON (NaN" in result.stderr
    for n in (6, 7, 8):
        assert f"line {n}: skipped: not a JSON object" in result.stderr
    assert "line 9: skipped: title must be a string" in result.stderr
    assert "line 10: skipped: replies must be a list" in result.stderr
    assert "line 11: skipped: created must be an ISO-8601 string" in result.stderr
    assert "Imported 2 threads" in result.stdout and "10 skipped" in result.stdout
    assert set(db.session.scalars(select(Thread.title))) == {"Before", "After"}


def test_pathological_experience_values_are_warnings_not_crashes(runner, tmp_path):
    """Numbers past a float, infinities and wrong types inside ``experience``."""
    lines = [
        thread_line("Huge dose", experience={"dose_mg_per_day": 10**400}),
        thread_line("Huge week", experience={"titration": [{"week": 1e300, "dose_mg": 50}]}),
        thread_line("Infinite", experience={"weight_kg": "inf"}),
        thread_line("Odd reason", experience={"outcome": "stopped", "stop_reason_other": [1]}),
    ]
    result = runner.invoke(args=["forum", "import", str(write(tmp_path / "e.jsonl", lines))])
    assert result.exit_code == 0, result.output
    for n in (1, 2, 3, 4):
        assert f"line {n}: warning: experience skipped" in result.stderr
    assert thread_count() == 4


def test_unknown_side_effect_is_a_warning_and_the_line_imports(runner, tmp_path):
    path = write(tmp_path / "in.jsonl", [thread_line("Odd", side_effects=["purple toenails"])])
    result = runner.invoke(args=["forum", "import", str(path)])
    assert result.exit_code == 0
    assert "line 1: warning:" in result.stderr and "purple toenails" in result.stderr
    assert thread_count() == 1


def test_import_from_stdin(runner):
    data = "\n".join([thread_line("From a pipe"), thread_line("Another")]) + "\n"
    result = runner.invoke(args=["forum", "import", "-"], input=data.encode())
    assert result.exit_code == 0, result.output
    assert thread_count() == 2


def test_import_missing_file_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(args=["forum", "import", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "No such file" in result.output


def test_export_to_stdout_and_file_round_trip(app, runner, tmp_path):
    from forum import create_app

    kate, marcus = factories.user("hedgerow_kate"), factories.user("Marcus_T")
    factories.thread(
        kate,
        title="Flu jab on aza?",
        conditions=("UC",),
        replies=[(marcus, "Non-live jabs were fine for me, ask your GI.")],
    )
    result = runner.invoke(args=["forum", "export", "-"])
    assert result.exit_code == 0
    exported = [json.loads(x) for x in result.stdout.splitlines()]
    assert [t["title"] for t in exported] == ["Flu jab on aza?"]
    assert exported[0]["conditions"] == ["Ulcerative colitis"]
    assert "Exported 1 threads" in result.stderr

    out = tmp_path / "out.jsonl"
    assert runner.invoke(args=["forum", "export", str(out)]).exit_code == 0
    fresh = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "fresh"),
            "SECRET_KEY": "x",
            "LOAD_DEMO_ON_FIRST_START": False,
        }
    )
    with fresh.app_context():
        result = fresh.test_cli_runner().invoke(args=["forum", "import", str(out)])
        assert result.exit_code == 0, result.output
        reexported = fresh.test_cli_runner().invoke(args=["forum", "export", "-"]).stdout
        db.session.remove()
        db.engine.dispose()
    assert [json.loads(x) for x in reexported.splitlines()] == exported


def test_search_eval_corpus_imports_completely(runner, shared_sample):
    result = runner.invoke(args=["forum", "import", str(shared_sample / "corpus.jsonl")])
    assert result.exit_code == 0, result.output
    assert "Imported 60 threads" in result.stdout and "0 skipped" in result.stdout
    assert thread_count() == 60


def test_init_db_is_safe_on_an_existing_database(runner):
    factories.thread(title="Still here")
    result = runner.invoke(args=["forum", "init-db"])
    assert result.exit_code == 0
    assert thread_count() == 1
