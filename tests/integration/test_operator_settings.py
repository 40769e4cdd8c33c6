"""What an operator meets at start: settings read strictly from FORUM_* variables, search
answering 503 (not 200) while this server's index cannot be used, and gunicorn's log line.

Unwritable instance files need a second user: tests/deploy/test_deploy_guide.py runs the
maintenance commands as one and checks start-up and /healthz report them.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from forum import create_app
from forum.extensions import db
from forum.settings import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def make_app(tmp_path, **config):
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            **config,
        }
    )


def test_an_inline_comment_in_an_env_file_stops_the_start(tmp_path, monkeypatch):
    """systemd keeps "false   # ..." as the value: it must not be read as true."""
    monkeypatch.setenv("FORUM_SCHEMA_AUTO_UPGRADE", "false     # upgrades are run by hand")
    with pytest.raises(ConfigError, match="FORUM_SCHEMA_AUTO_UPGRADE.*own line"):
        make_app(tmp_path)


@pytest.mark.parametrize(
    ("name", "raw", "problem"),
    [
        ("FORUM_SESSION_COOKIE_SECURE", "ture", "not true or false"),
        ("FORUM_LOAD_DEMO_ON_FIRST_START", "nope", "not true or false"),
        ("FORUM_PROXY_COUNT", "one", "not a whole number"),
        ("FORUM_WORKERS", "4   # default: 2 x cores", "holds a comment"),
    ],
)
def test_garbage_settings_are_named_at_start(tmp_path, monkeypatch, name, raw, problem):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError, match=f"{name}.*{problem}"):
        make_app(tmp_path)


def test_boolean_words_mean_what_they_say(tmp_path, monkeypatch):
    monkeypatch.setenv("FORUM_SCHEMA_AUTO_UPGRADE", "no")
    monkeypatch.setenv("FORUM_SESSION_COOKIE_SECURE", "True")
    monkeypatch.setenv("FORUM_PROXY_COUNT", "1")
    app = make_app(tmp_path)
    assert app.config["SCHEMA_AUTO_UPGRADE"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["PROXY_COUNT"] == 1


def test_search_page_answers_503_with_retry_after_while_the_index_is_unusable(tmp_path):
    """Like the API: a load balancer retries the search on a server whose index works."""
    blocker = tmp_path / "a-file"
    blocker.write_text("the index cannot be created under a file")
    app = make_app(tmp_path, SEARCH_INDEX_DIR=str(blocker / "search-index"))
    with app.app_context():
        client = app.test_client()
        page = client.get("/search?q=rash")
        api = client.get("/api/v1/search?q=rash")
        home = client.get("/")
        db.session.remove()
        db.engine.dispose()
    assert page.status_code == 503 and page.headers["Retry-After"] == "60"
    assert "being rebuilt" in page.get_data(as_text=True)
    assert api.status_code == 503 and api.headers["Retry-After"] == "60"
    assert home.status_code == 200  # the rest of the forum works meanwhile


def test_gunicorn_access_log_time_has_one_pair_of_brackets(monkeypatch):
    """gunicorn's %(t)s is already "[04/Dec/2026:17:00:00 +0000]"."""
    monkeypatch.delenv("FORUM_WORKERS", raising=False)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert "%(t)s" in settings["access_log_format"]
    assert "[%(t)s]" not in settings["access_log_format"]


def test_gunicorn_settings_refuse_an_inline_comment(monkeypatch):
    monkeypatch.setenv("FORUM_WORKERS", "4                     # default: 2 x CPU cores")
    with pytest.raises(SystemExit, match="FORUM_WORKERS.*comment"):
        runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_a_gunicorn_worker_settles_its_start_up_objects_out_of_the_collectors_way(app):
    """Python's full garbage collections walked every object of the app's start-up
    (~130,000: modules, vocabulary tables, mappers) - 40-160 ms landing on one request now
    and then. A worker ready to serve freezes them (``forum.settle``), and the objects
    requests make are still collected."""
    import gc
    import logging
    import types

    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    worker = types.SimpleNamespace(wsgi=app, log=logging.getLogger("test-worker"))
    gc.unfreeze()
    try:
        settings["post_worker_init"](worker)
        assert gc.get_freeze_count() > 10_000
        made = [[] for _ in range(1000)]
        for item in made:
            item.append(item)  # cycles made after start-up
        del made, item
        assert gc.collect() >= 1000  # still found and freed
    finally:
        gc.unfreeze()


def test_a_process_freezes_what_is_alive_before_the_interpreter_tears_down():
    """Every command ends with the interpreter's final garbage collection, which walked
    every object of the app once more (~0.45 s of a 2,000-thread import on PostgreSQL):
    the forum's last exit handler freezes them first. A handler registered before the
    forum is imported runs after it, and sees them frozen."""
    import subprocess
    import sys

    script = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 1000))\n"
        "import forum\n"
        "print('frozen before exit:', gc.get_freeze_count() > 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["frozen before exit: False", "frozen at exit: True"]


def test_an_import_command_leaves_the_sqlite_database_whole_when_it_exits(tmp_path):
    """The exit freezes what is alive (so the interpreter's last collection is short),
    after closing the app's database connections: a SQLite database left open keeps its
    write-ahead log beside it, and a copy of forum.db alone would miss the import."""
    import json
    import os
    import sqlite3
    import subprocess
    import sys

    instance = tmp_path / "instance"
    lines = tmp_path / "in.jsonl"
    lines.write_text(
        "".join(
            json.dumps(
                {
                    "title": f"Question {n} about aza and sunburn",
                    "body": "Does anyone else burn faster since starting?",
                    "author": f"walker_{n}",
                    "created": "2024-06-01T10:00:00Z",
                    "conditions": ["Lupus"],
                }
            )
            + "\n"
            for n in range(30)
        ),
        encoding="utf-8",
    )
    env = dict(os.environ, FORUM_INSTANCE_PATH=str(instance), FORUM_SEARCH_SEMANTIC="false")
    env.pop("FORUM_TEST_DATABASE_URL", None)
    for args in (["init-db"], ["import", str(lines)]):
        out = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "forum", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert out.returncode == 0, out.stderr
    assert not (instance / "forum.db-wal").exists()
    copy = tmp_path / "copy.db"
    copy.write_bytes((instance / "forum.db").read_bytes())  # the file alone
    with sqlite3.connect(copy) as conn:
        query = "SELECT count(*) FROM threads WHERE title LIKE 'Question % about aza and sunburn'"
        assert conn.execute(query).fetchone() == (30,)
