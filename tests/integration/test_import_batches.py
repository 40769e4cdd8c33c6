"""Batch imports: many threads per transaction, each thread still all-or-nothing.

Runs on SQLite, and on PostgreSQL when FORUM_TEST_DATABASE_URL is set (the ``app``
fixture). Real database, real index: a refused thread is refused by a real receiver or
a real database trigger, and ``flask forum check-index`` compares index and database.
"""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select, text

from forum import signals, transfer
from forum.extensions import db
from forum.models import Post, SearchChange, Thread, User
from forum.search import service as search
from forum.services import ValidationError


def line(n: int, **overrides) -> str:
    item = {
        "title": f"Batch question number {n} about methotrexate",
        "body": f"Thread {n}: does anyone take folic acid alongside aza?",
        "author": f"importer_{n % 3}",
        "created": f"2024-05-{1 + n % 28:02d}T09:{n % 60:02d}:00Z",
        "conditions": ["Crohn's disease"],
        "replies": [{"author": f"helper_{n % 4}", "body": f"Reply to thread {n}."}],
    }
    item.update(overrides)
    return json.dumps(item)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def titles() -> set[str]:
    return set(db.session.scalars(select(Thread.title)))


def index_agrees(app) -> None:
    result = app.test_cli_runner().invoke(args=["forum", "check-index"])
    assert result.exit_code == 0, result.output


def test_batch_records_one_search_change_per_thread_and_is_searchable(app):
    report = transfer.import_lines([line(n) for n in range(7)])
    assert (report.imported, report.skipped) == (7, [])
    assert report.accounts_created == 3 + 4
    assert count(SearchChange) == 7  # exactly as seven single threads would record
    assert {c for c in db.session.scalars(select(SearchChange.thread_id))} == set(report.thread_ids)
    assert search.search("methotrexate").total == 7
    index_agrees(app)


def test_thread_refused_by_a_receiver_mid_batch_skips_only_itself(app):
    def refuse(_app, thread, **_kw):
        if "number 3 " in thread.title:
            raise ValidationError("New accounts can include at most 2 links.")

    signals.thread_created.connect(refuse)
    try:
        report = transfer.import_lines([line(n) for n in range(6)])
    finally:
        signals.thread_created.disconnect(refuse)
    assert report.skipped == [(4, "New accounts can include at most 2 links")]
    assert report.imported == 5
    assert len(titles()) == 5 and not any("number 3 " in t for t in titles())
    assert search.search("methotrexate").total == 5
    index_agrees(app)


def _refuse_title_in_the_database(title: str) -> None:
    _refuse_in_the_database("threads", "title", title)


def _refuse_in_the_database(table: str, column: str, value: str) -> None:
    """A trigger that makes the database refuse a row of ``table`` with this value."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(
            text(
                f"CREATE TRIGGER refuse_one BEFORE INSERT ON {table} "
                f"WHEN NEW.{column} = '{value}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    else:
        db.session.execute(
            text(
                "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.{column} = '{value}' THEN RAISE EXCEPTION 'refused' "
                "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql"
            )
        )
        db.session.execute(
            text(
                f"CREATE TRIGGER refuse_one BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_one()"
            )
        )
    db.session.commit()


def test_insert_refused_by_the_database_mid_batch_skips_only_itself(app):
    _refuse_title_in_the_database("Refused by the database")
    lines = [line(n) for n in range(5)]
    lines[2] = line(2, title="Refused by the database")
    report = transfer.import_lines(lines)
    assert [n for n, _reason in report.skipped] == [3]
    assert report.imported == 4
    assert "Refused by the database" not in titles() and len(titles()) == 4
    # Nothing of the refused thread stayed: no posts, no change record, no new account.
    assert count(SearchChange) == 4
    assert search.search("methotrexate").total == 4
    index_agrees(app)


def test_reply_refused_by_the_database_mid_batch_skips_only_its_thread(app):
    """The batch's posts go in with one statement (on PostgreSQL a COPY): a reply the
    database refuses fails the batch as an INSERT would, and only its thread is
    skipped when the batch is retried thread by thread."""
    _refuse_in_the_database("posts", "body", "A reply the database refuses.")
    lines = [line(n) for n in range(5)]
    lines[3] = line(3, replies=[{"author": "helper_1", "body": "A reply the database refuses."}])
    report = transfer.import_lines(lines)
    assert [n for n, _reason in report.skipped] == [4]
    assert report.imported == 4 and count(Thread) == 4
    assert count(Post) == 8  # a question and a reply each, none of the refused thread's
    assert count(SearchChange) == 4
    index_agrees(app)


def test_invalid_thread_mid_batch_skips_only_itself(app):
    lines = [line(n) for n in range(5)]
    lines[1] = line(1, conditions=["Not a condition at all"])
    lines[3] = line(3, body="   ")
    report = transfer.import_lines(lines)
    assert [n for n, _reason in report.skipped] == [2, 4]
    assert "Unknown condition" in report.skipped[0][1]
    assert report.imported == 3 and count(Thread) == 3
    index_agrees(app)


def test_reimport_adds_nothing(app):
    lines = [line(n) for n in range(6)]
    transfer.import_lines(lines)
    users, changes = count(User), count(SearchChange)
    again = transfer.import_lines(lines)
    assert (again.imported, again.already_present, again.skipped) == (0, 6, [])
    assert (count(Thread), count(User), count(SearchChange)) == (6, users, changes)


def test_thread_imported_by_another_import_during_the_batch_is_already_present(app):
    importer = transfer.Importer()  # read the known keys before the other import ran
    transfer.import_lines([line(2)])
    report = importer.run([line(n) for n in range(5)])
    assert (report.imported, report.already_present, report.skipped) == (4, 1, [])
    assert count(Thread) == 5
    index_agrees(app)


def test_concurrent_imports_of_the_same_file_create_no_duplicates(app):
    lines = [line(n) for n in range(40)]
    reports, errors = [], []

    def run():
        try:
            with app.app_context():
                reports.append(transfer.import_lines(lines))
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert sum(r.imported for r in reports) == 40
    assert all(r.skipped == [] for r in reports)
    assert count(Thread) == 40
    assert len(titles()) == 40
    names = list(db.session.scalars(select(User.name_key)))
    assert len(names) == len(set(names)) == 3 + 4
    index_agrees(app)


def test_the_background_applier_leaves_the_import_to_its_final_checkpoint(app):
    """The import's final checkpoint catches the index up with the fast segment builder;
    while it runs, the import still counts as running, so the process's background
    applier (which checks ``importing()``) does not take the write lock first and apply
    the backlog one thread at a time - seen as about one 5,000-thread import in eight
    taking 2.5 times as long."""
    from forum.search import applier

    seen = []

    def at_checkpoint(_app, final=False, **_kw):
        seen.append((final, applier._bulk_importing()))

    transfer.import_checkpoint.connect(at_checkpoint)
    try:
        report = transfer.import_lines([line(n) for n in range(3)])
    finally:
        transfer.import_checkpoint.disconnect(at_checkpoint)
    assert report.imported == 3
    assert seen == [(True, True)]
    assert not transfer.importing()  # and it ends with the import
    index_agrees(app)


def test_import_checkpoint_builds_segments_in_worker_processes(app, monkeypatch):
    """A large checkpoint writes its documents with the rebuild's fast builder in worker
    processes (made "large" here): every thread searchable, the index agrees, and a
    re-import changes nothing."""
    from forum.search import build

    monkeypatch.setitem(app.config, "SEARCH_IMPORT_PARALLEL_MIN", 2)
    monkeypatch.setitem(app.config, "SEARCH_IMPORT_BESIDE", False)  # all in the foreground
    forked = []
    fill_parallel = build._fill_parallel
    monkeypatch.setattr(
        build, "_fill_parallel", lambda *a: forked.append(len(a[1])) or fill_parallel(*a)
    )
    monkeypatch.setattr(transfer, "CHECKPOINT_EVERY", 4)
    lines = [line(n) for n in range(11)]
    report = transfer.import_lines(lines)
    assert (report.imported, report.skipped) == (11, [])
    assert forked and forked[-1] == 3  # the last checkpoint forked for its 3 threads
    assert search.search("methotrexate").total == 11
    index_agrees(app)
    again = transfer.import_lines(lines)
    assert (again.imported, again.already_present) == (0, 11)
    assert search.search("methotrexate").total == 11
    index_agrees(app)


def test_bulk_path_gives_every_thread_its_rows_follow_and_order(app):
    """With only import-aware receivers (the app's own), a batch is stored with bulk
    inserts: each thread has its question first, its replies, tags, one change record,
    and its author follows it, as one thread at a time would give."""
    from forum.notifications.models import Follow

    assert signals.per_thread_receivers(app) == []  # the bulk path is the one taken
    report = transfer.import_lines([line(n) for n in range(5)])
    assert (report.imported, report.skipped) == (5, [])
    for thread_id in report.thread_ids:
        thread = db.session.get(Thread, thread_id)
        assert thread.question.is_question and thread.question.body.startswith("Thread ")
        assert [p.is_question for p in thread.posts] == [True, False]
        assert thread.reply_count == 1 and thread.tag_slugs("condition") == ["crohns"]
        follow = db.session.scalar(select(Follow).where(Follow.thread_id == thread_id))
        assert follow is not None and follow.user_id == thread.author_id
    assert count(SearchChange) == 5
    index_agrees(app)


def test_bulk_path_numbers_posts_in_the_order_of_the_file(app):
    """Post ids follow the file's order - each question before its replies, replies in
    the order given, threads one after another - whatever their timestamps say, as
    one-by-one inserts would number them."""
    replies = [
        {"author": f"helper_{k}", "body": f"Reply {k} to thread", "created": when}
        for k, when in enumerate(["2024-06-03T09:00:00Z", "2024-06-01T09:00:00Z", None])
    ]
    report = transfer.import_lines([line(n, replies=replies) for n in range(6)])
    assert (report.imported, report.skipped) == (6, [])
    rows = db.session.execute(select(Post.thread_id, Post.body).order_by(Post.id)).all()
    expected = []
    for thread_id in report.thread_ids:
        expected.append((thread_id, "question"))
        expected.extend((thread_id, f"Reply {k} to thread") for k in range(3))
    assert [(t, "question" if b.startswith("Thread ") else b) for t, b in rows] == expected


def test_batch_receiver_refusing_one_thread_skips_only_it(app):
    """A ``threads_imported`` receiver refusing one thread refuses its whole batch; the
    batch is retried one thread per transaction through the same bulk path, so only
    that thread is skipped."""
    seen = []

    def refuse(_app, threads, **_kw):
        seen.append(len(threads))
        titles_ = set(db.session.scalars(select(Thread.title).where(
            Thread.id.in_([t.id for t in threads]))))  # fmt: skip
        if any("number 3 " in t for t in titles_):
            raise ValidationError("refused by a batch receiver.")

    signals.threads_imported.connect(refuse)
    try:
        report = transfer.import_lines([line(n) for n in range(6)])
    finally:
        signals.threads_imported.disconnect(refuse)
    assert seen[0] == 6 and seen[1:] == [1] * 6  # the batch, then one thread at a time
    assert report.skipped == [(4, "refused by a batch receiver")]
    assert report.imported == 5 and count(SearchChange) == 5
    assert not any("number 3 " in t for t in titles())
    assert search.search("methotrexate").total == 5
    index_agrees(app)


def test_import_failing_mid_way_keeps_committed_batches_and_a_consistent_index(app, monkeypatch):
    """An import that dies in its third batch (here an unexpected error from a
    receiver) keeps the two committed batches, searchable, with an index that
    check-index accepts; running the file again imports the rest, no duplicates."""
    monkeypatch.setattr(transfer, "BATCH", 4)
    calls = []

    def crash(_app, threads, **_kw):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")

    lines = [line(n) for n in range(11)]
    signals.threads_imported.connect(crash)
    try:
        try:
            transfer.import_lines(lines)
        except RuntimeError:
            pass
        else:  # pragma: no cover - the assert says what went wrong
            raise AssertionError("the import should have failed")
    finally:
        signals.threads_imported.disconnect(crash)
    db.session.rollback()
    assert count(Thread) == 8 and count(SearchChange) == 8
    assert search.search("methotrexate").total == 8
    index_agrees(app)
    again = transfer.import_lines(lines)
    assert (again.imported, again.already_present, again.skipped) == (3, 8, [])
    assert count(Thread) == 11
    index_agrees(app)


def _answers(queries: list[str]) -> tuple[dict, dict]:
    """What searches show (totals, facet counts, the ranked threads), and the scores."""
    shown, scores = {}, {}
    for q in queries:
        found = search.search(q, per_page=100)
        assert not found.unavailable, q
        shown[q] = (found.total, found.facets, [hit.thread.title for hit in found.items])
        scores[q] = [hit.score for hit in found.items]
    return shown, scores


def test_imported_index_answers_searches_as_a_full_reindex_does(app, monkeypatch):
    """The segments an import writes at its checkpoints (the fast builder, the lean
    postings writer) answer every kind of search - words, phrases, synonyms, a
    misspelling, tag facets - with the same threads, order and scores as the index a
    full ``reindex`` builds from the same rows. Scores agree within 5%, not exactly:
    whoosh's BM25F counts deleted documents in its document total until their segment
    merges, and each checkpoint replaces the meta document (a reindex has none deleted);
    after ``optimise`` about 0.1% is left (per-segment statistics). main's builder
    gives the same differences."""
    from forum.search import rebuild

    monkeypatch.setattr(transfer, "CHECKPOINT_EVERY", 5)  # several checkpoints, segments
    bodies = [
        "Hair coming out since starting azathioprine; folic acid helped a little.",
        "Low white count at the last blood test, the dose was halved to 50mg.",
        "Feeling sick every morning, taking the tablet with food made it better.",
        "Liver numbers went up after six weeks on aza, now on a lower dose.",
        "Skin cancer checks every year; sun cream all summer long.",
    ]
    lines = [
        line(
            n,
            title=f"Question {n} about {['nausea', 'hair loss', 'blood tests'][n % 3]}",
            body=bodies[n % 5] + f" Week {n} of treatment.",
            conditions=[["Crohn's disease"], ["Lupus"], ["Ulcerative colitis"]][n % 3],
            side_effects=[["nausea"], ["hair loss"], []][n % 3],
        )
        for n in range(23)
    ]
    report = transfer.import_lines(lines)
    assert (report.imported, report.skipped) == (23, [])
    queries = ["azathioprine", "folic acid", '"white count"', "hair falling out", "nausia",
               "liver dose", "sick", "week 7", "methotrexate reply"]  # fmt: skip
    imported, imported_scores = _answers(queries)
    assert imported["azathioprine"][0] > 0 and imported['"white count"'][0] > 0
    index_agrees(app)
    rebuild.rebuild(procs=1)
    rebuilt, rebuilt_scores = _answers(queries)
    assert rebuilt == imported
    for q in queries:
        assert rebuilt_scores[q] == pytest.approx(imported_scores[q], rel=0.05), q


def test_import_goes_on_storing_while_its_checkpoint_is_indexed(app, monkeypatch, tmp_path):
    """The index work of an import's checkpoint runs in a process beside the import, so
    the import does not wait for it: here the first checkpoint's index commit is held
    until the third batch is stored, and the import stores it (the first threads not
    yet in the index then). At the end every thread is found, the index agrees, and a
    re-import adds nothing."""
    import time

    from forum.search import changes, runtime

    monkeypatch.setattr(transfer, "BATCH", 4)
    monkeypatch.setattr(transfer, "CHECKPOINT_EVERY", 4)
    stored = tmp_path / "third-batch-stored"  # seen by the forked process too
    fast_commit = changes._fast_commit

    def held_until_the_third_batch(*args):
        deadline = time.monotonic() + 10
        while not stored.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return fast_commit(*args)

    batches, indexed_meanwhile = [], []

    def third_batch(_app, threads, **_kw):
        batches.append(len(threads))
        if len(batches) == 3:  # the change rows the index holds (a search would apply)
            indexed_meanwhile.append(int(changes.current_meta().get("applied", 0)))
            stored.touch()

    runtime.ensure_started(app)  # as in `flask forum import`: search starts with the app
    monkeypatch.setattr(changes, "_fast_commit", held_until_the_third_batch)
    lines = [line(n, title=f"Early heron {n}") for n in range(4)]
    lines += [line(n) for n in range(4, 11)]
    signals.threads_imported.connect(third_batch)
    try:
        report = transfer.import_lines(lines)
    finally:
        signals.threads_imported.disconnect(third_batch)
    assert (report.imported, report.skipped) == (11, [])
    assert indexed_meanwhile == [0]  # stored before the first checkpoint was indexed
    assert search.search("heron").total == 4
    assert search.search("folic").total == 11
    index_agrees(app)
    again = transfer.import_lines(lines)
    assert (again.imported, again.already_present) == (0, 11)
    index_agrees(app)


def _end_built_ahead(app, monkeypatch, tmp_path, after_prebuild=None):
    """An import whose checkpoint process is held in its commit until the import's end
    has built the rows after that commit (``ahead.prebuild``); returns (the report,
    the Prebuilt, the segments installed from it)."""
    import os
    import subprocess
    import time

    from forum.search import ahead, changes, runtime

    monkeypatch.setattr(transfer, "BATCH", 4)
    monkeypatch.setattr(transfer, "CHECKPOINT_EVERY", 4)
    parent = os.getpid()
    built = tmp_path / "built-ahead"  # seen by the forked process too
    fast_commit = changes._fast_commit

    def held_until_built_ahead(*args):
        if os.getpid() != parent:
            deadline = time.monotonic() + 15
            while not built.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return fast_commit(*args)

    prebuilds, installed = [], []
    prebuild, install = ahead.prebuild, ahead.Prebuilt.install

    def recorded_prebuild(*args, **kwargs):
        result = prebuild(*args, **kwargs)
        prebuilds.append(result)
        if after_prebuild and result is not None:
            after_prebuild(result)
        built.touch()
        return result

    def recorded_install(self, dest):
        installed.append(install(self, dest))
        return installed[-1]

    runtime.ensure_started(app)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process killed while building ahead left its folder:
    (changes.store().root / f".prebuild-{gone.pid}-1").mkdir()  # the next build removes it
    monkeypatch.setattr(changes, "_fast_commit", held_until_built_ahead)
    monkeypatch.setattr(ahead, "prebuild", recorded_prebuild)
    monkeypatch.setattr(ahead.Prebuilt, "install", recorded_install)
    lines = [line(n, title=f"Late heron {n}") for n in range(16)]
    report = transfer.import_lines(lines)
    assert (report.imported, report.skipped) == (16, [])
    [done] = prebuilds
    assert done is not None and done.ids and done.after > 0
    root = changes.store().root
    assert not list(root.glob(".prebuild-*"))  # installed or discarded, never left
    return report, done, installed


def test_import_end_builds_the_last_rows_while_the_checkpoint_commits(app, monkeypatch, tmp_path):
    """At the import's end its checkpoint process may still be building a commit: the
    rows after that commit are built meanwhile (without the write lock, in a folder of
    their own) and installed by the final commit, so no core waits for the other. Every
    thread is found once, the index agrees, and a re-import adds nothing."""
    report, done, installed = _end_built_ahead(app, monkeypatch, tmp_path)
    assert installed and installed[0] == done.segments
    assert search.search("heron").total == 16
    index_agrees(app)
    again = transfer.import_lines([line(n, title=f"Late heron {n}") for n in range(16)])
    assert (again.imported, again.already_present) == (0, 16)
    index_agrees(app)


def test_segments_built_ahead_are_dropped_when_a_thread_changed_meanwhile(
    app, monkeypatch, tmp_path
):
    """A thread hidden after the end's segments were built ahead would be shown by them:
    they are discarded and the rows applied as usual - the hidden thread is not found,
    the others are, and the index agrees."""
    from forum.services import record_search_change

    hidden = []

    def hide_one(done):
        thread = db.session.get(Thread, min(done.ids))
        thread.is_hidden = thread.question.is_hidden = True
        record_search_change([thread.id])
        db.session.commit()
        hidden.append(thread.title)

    report, done, installed = _end_built_ahead(app, monkeypatch, tmp_path, hide_one)
    assert installed == []
    assert search.search("heron").total == 15
    assert hidden[0] not in {hit.thread.title for hit in search.search("heron").items}
    index_agrees(app)


@pytest.mark.parametrize("how", ["fails", "is killed"])
def test_checkpoint_process_that_dies_leaves_its_rows_pending_for_the_end(app, monkeypatch, how):
    """When the process indexing checkpoints beside the import fails or is killed
    before its index commit, nothing of its work is committed: its rows are still
    pending, the import's end applies them, and the index agrees with every thread."""
    import os
    import signal

    from forum.search import changes

    monkeypatch.setattr(transfer, "BATCH", 4)
    monkeypatch.setattr(transfer, "CHECKPOINT_EVERY", 4)
    parent = os.getpid()
    fast_commit = changes._fast_commit
    died = []

    def dies_beside(*args):
        if os.getpid() != parent:  # in the forked process only
            if how == "fails":
                raise RuntimeError("disk on fire")
            os.kill(os.getpid(), signal.SIGKILL)
        died.append(bool(died))
        return fast_commit(*args)

    monkeypatch.setattr(changes, "_fast_commit", dies_beside)
    report = transfer.import_lines([line(n) for n in range(11)])
    assert (report.imported, report.skipped) == (11, [])
    assert died == [False]  # the end applied every row in one commit, here
    assert search.search("methotrexate").total == 11
    index_agrees(app)


@pytest.mark.parametrize("where", ["connecting", "committing"])
def test_checkpoint_process_that_hangs_is_stopped_and_its_rows_applied(
    app, monkeypatch, caplog, where
):
    """The process forked to index checkpoints may hang on a lock it inherited from this
    process's other threads (at its first database connection, say): the import's end
    stops it (not connected within SEARCH_WORKER_READY_S, or silent for
    SEARCH_WORKER_STALL_S) instead of waiting for ever, and applies its rows."""
    import multiprocessing
    import os
    import time

    from forum.search import changes, checkpoints

    monkeypatch.setattr(transfer, "BATCH", 4)
    monkeypatch.setattr(transfer, "CHECKPOINT_EVERY", 4)
    app.config["SEARCH_WORKER_READY_S"] = 2
    app.config["SEARCH_WORKER_STALL_S"] = 2
    parent = os.getpid()
    module, name = (
        (checkpoints, "_connected") if where == "connecting" else (changes, "_fast_commit")
    )
    real = getattr(module, name)
    entered = multiprocessing.get_context("fork").Event()

    def stuck(*args):
        if os.getpid() != parent:
            entered.set()
            time.sleep(3600)
        return real(*args)

    monkeypatch.setattr(module, name, stuck)
    catch_up = checkpoints.catch_up

    def once_it_hangs(*args, **kwargs):  # the import's end, once the process is stuck
        assert entered.wait(30), "the checkpoint process never started"
        return catch_up(*args, **kwargs)

    monkeypatch.setattr(checkpoints, "catch_up", once_it_hangs)
    done: dict = {}

    def run():
        with app.app_context():
            done["report"] = transfer.import_lines([line(n) for n in range(11)])

    importer = threading.Thread(target=run, daemon=True)
    importer.start()
    importer.join(90)
    assert not importer.is_alive(), "the import still waits for its checkpoint process"
    assert (done["report"].imported, done["report"].skipped) == (11, [])
    assert "search-import stuck: stopped" in caplog.text
    assert search.search("methotrexate").total == 11
    index_agrees(app)


def test_bulk_apply_replaces_the_documents_of_threads_already_indexed(app):
    """The bulk apply finds a changed thread's old document in whichever segment holds it
    (two imports: two segments) and deletes it: an edited thread is found once, by its
    new words only, a hidden one not at all, and the others are untouched."""
    from whoosh.query import Term

    from forum.search import changes, threadids
    from forum.services import commit, record_search_change

    first = transfer.import_lines([line(n) for n in range(5)]).thread_ids
    second = transfer.import_lines([line(n) for n in range(5, 10)]).thread_ids
    st = changes.store()
    with st.searcher() as searcher:
        assert len(searcher.reader().leaf_readers()) >= 2
        ids = [*first, *second, 999_999]  # and one that is in no segment
        assert sorted(threadids.documents_of(searcher, ids)) == sorted(
            d for i in ids for d in searcher.docs_for_query(Term("id", str(i)))
        )
    edited, hidden = first[1], second[2]
    db.session.get(Thread, edited).title = "Renamed to ask about sunscreen"
    db.session.get(Thread, hidden).is_hidden = True
    record_search_change([edited, hidden])
    commit()
    assert changes.apply_pending_bulk(100) == 2
    assert [hit.thread.id for hit in search.search("sunscreen").items] == [edited]
    assert search.search("methotrexate").total == 8  # ten, less the renamed and the hidden
    index_agrees(app)
