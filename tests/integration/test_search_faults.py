"""The index never lies: crashes, killed indexers, concurrent writers, corruption.

Every test runs against a real whoosh index in the test's instance folder; other
processes are real processes (multiprocessing, spawn) with their own create_app on
the same instance.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from forum import create_app
from forum.extensions import db
from forum.models import Thread
from forum.search import applier, changes, rebuild
from forum.search.documents import meta_document
from forum.search.index import read_meta
from tests import factories as f

SPAWN = multiprocessing.get_context("spawn")


def config(instance: str, **extra) -> dict:
    return {
        "TESTING": True,
        "INSTANCE_PATH": instance,
        "LOAD_DEMO_ON_FIRST_START": False,
        "SECRET_KEY": "test-secret",
        "RATELIMIT_ENABLED": False,
        **extra,
    }


def titles(client, q):
    resp = client.get("/api/v1/search", query_string={"q": q, "per_page": 100})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {r["title"] for r in resp.get_json()["results"]}


def instance_of(app) -> str:
    return app.instance_path


# -- helpers run in other processes --------------------------------------------------------


def _post_many(instance: str, label: str, count: int, queue) -> None:
    app = create_app(config(instance))
    errors, unseen = [], 0
    with app.app_context():
        from forum.search.service import search

        author = f.user(f"writer_{label}")
        for n in range(count):
            try:
                f.thread(author, title=f"Zebra{label} note {n}", body=f"Zebra{label} text {n}.")
                found = {h.thread.title for h in search(f"zebra{label}", per_page=100).items}
                if f"Zebra{label} note {n}" not in found:
                    unseen += 1
            except Exception as exc:  # a LockError or anything else reaching the caller
                errors.append(repr(exc))
        db.session.remove()
    queue.put((label, errors, unseen))


def _slow_extras_signalling(ready):
    """A document hook that says the indexing has begun, then makes each thread slow."""

    def slow(sender, thread):
        ready.set()
        time.sleep(0.02)
        return {}

    return slow


def _apply_slowly(instance: str, ready) -> None:
    from forum.search.documents import document_extras

    # Connected before the app starts: start-up itself applies what is pending.
    document_extras.connect(_slow_extras_signalling(ready), weak=False)
    app = create_app(config(instance, SEARCH_SYNC=False))
    with app.app_context():
        changes.apply_pending(timeout=30)


def _rebuild_slowly(instance: str, ready) -> None:
    from forum.search.documents import document_extras

    document_extras.connect(_slow_extras_signalling(ready), weak=False)
    app = create_app(config(instance, SEARCH_SYNC=False))
    with app.app_context():
        rebuild.rebuild()


def _kill_while(target, instance: str, delay: float) -> None:
    ready = SPAWN.Event()
    proc = SPAWN.Process(target=target, args=(instance, ready))
    proc.start()
    assert ready.wait(60), "child did not start"
    time.sleep(delay)
    assert proc.is_alive(), "the child finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)


# -- tests ---------------------------------------------------------------------------------


def test_crash_between_commit_and_index_write_is_repaired_at_start(app, tmp_path):
    author = f.user()
    f.thread(author, title="First post", body="Indexed normally.")
    app.config["SEARCH_SYNC"] = False  # as if the process died right after the commit
    f.thread(author, title="Kestrel sighting", body="Posted just before the crash.")
    applied, newest, _gaps = changes.pending_state()
    assert applied < newest
    restarted = create_app(config(instance_of(app)))
    with restarted.app_context():  # start-up alone applied it: no request, no commit
        applied, newest, _gaps = changes.pending_state()
        assert applied == newest
        assert titles(restarted.test_client(), "kestrel") == {"Kestrel sighting"}


def test_concurrent_writers_in_several_processes_lose_nothing(app, client):
    f.user("seed")  # the tables and the index exist before the writers start
    assert titles(client, "anything") == set()
    queue = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_post_many, args=(instance_of(app), label, 12, queue))
        for label in ("a", "b", "c")
    ]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(30)
    for label, errors, unseen in outcomes:
        assert errors == [], (label, errors)
        assert unseen == 0, f"{label}: {unseen} posts not searchable right after posting"
    for label in ("a", "b", "c"):
        assert len(titles(client, f"zebra{label}")) == 12
    assert rebuild.check_index() == []


def test_killed_indexer_mid_apply_is_repaired(app, client):
    author = f.user()
    f.thread(author, title="First post", body="Indexed normally.")
    app.config["SEARCH_SYNC"] = False
    for n in range(60):
        f.thread(author, title=f"Osprey {n}", body="Unapplied so far.")
    _kill_while(_apply_slowly, instance_of(app), 0.6)
    app.config["SEARCH_SYNC"] = True
    changes.apply_pending(timeout=10)  # the lock died with the process: no LockError
    assert len(titles(client, "osprey")) == 60
    assert rebuild.check_index() == []


def test_killed_reindex_leaves_search_working_and_is_cleaned_up(app, client):
    author = f.user()
    for n in range(60):
        f.thread(author, title=f"Heron {n}", body="Indexed.")
    before = changes.store().current_name()
    _kill_while(_rebuild_slowly, instance_of(app), 0.6)
    assert changes.store().current_name() == before  # the half-built one was never published
    assert len(changes.store().generations()) == 2
    assert len(titles(client, "heron")) == 60
    f.thread(author, title="Heron late", body="Written after the kill.")
    assert "Heron late" in titles(client, "heron")
    name = rebuild.rebuild()
    assert changes.store().current_name() == name != before
    assert all(g <= name for g in changes.store().generations())
    assert len(titles(client, "heron")) == 61
    assert rebuild.check_index() == []


def _damage(app, how: str) -> None:
    st = changes.store()
    st.close()
    gen = Path(st.root) / st.current_name()
    if how == "deleted":
        shutil.rmtree(st.root)
        return
    for path in gen.iterdir():
        if not path.is_file():
            continue  # a background writer's temporary folder: not index data
        try:
            if how == "truncated":
                with open(path, "r+b") as fh:
                    fh.truncate(max(0, os.fstat(fh.fileno()).st_size // 3))
            else:  # garbage
                path.write_bytes(b"\x00garbage\xff" * 10)
        except FileNotFoundError:
            continue  # retired and deleted by a writer meanwhile


@pytest.mark.parametrize("how", ["deleted", "truncated", "garbage"])
def test_damaged_index_never_breaks_pages_and_is_rebuilt(app, client, how):
    author = f.user()
    f.thread(author, title="Plover questions", body="About plovers.")
    assert titles(client, "plover") == {"Plover questions"}
    _damage(app, how)
    # Force this process to notice (another process's damage would be noticed the same way).
    changes.store()._indexes.clear()
    resp = client.get("/search?q=plover")
    page = resp.get_data(as_text=True)
    if resp.status_code == 503:  # being rebuilt: a load balancer tries another server
        assert "being rebuilt" in page and resp.headers["Retry-After"]
    else:
        assert resp.status_code == 200 and "Plover questions" in page
    api = client.get("/api/v1/search?q=plover")
    assert api.status_code in (200, 503)
    for page_path in ("/", f"/t/{Thread.query.first().id}"):
        assert client.get(page_path).status_code == 200
    rebuild.wait_for_rebuild(app, 60)
    deadline = time.monotonic() + 60
    while titles(client, "plover") != {"Plover questions"}:
        assert time.monotonic() < deadline, "index was not rebuilt"
        rebuild.wait_for_rebuild(app, 5)
        time.sleep(0.2)
    assert rebuild.check_index() == []


def test_schema_change_triggers_rebuild_at_start(app, client):
    f.thread(f.user(), title="Curlew calls", body="Evenings.")
    writer = changes.store().writer()
    meta = read_meta(writer.searcher())
    meta["schema"] = "an-older-schema"
    writer.update_document(**meta_document(meta))
    writer.commit()
    before = changes.store().current_name()
    restarted = create_app(config(instance_of(app)))
    with restarted.app_context():
        assert changes.store().current_name() != before
        assert read_meta(changes.store().searcher())["schema"] != "an-older-schema"
        assert titles(restarted.test_client(), "curlew") == {"Curlew calls"}


def test_check_index_finds_a_difference_and_reindex_fixes_it(app, runner):
    t = f.thread(f.user(), title="Lapwing", body="Fields.")
    assert runner.invoke(args=["forum", "check-index"]).exit_code == 0
    # Change the database behind the index's back (no recorded change).
    db.session.execute(update(Thread).where(Thread.id == t.id).values(title="Lapwing renamed"))
    db.session.commit()
    result = runner.invoke(args=["forum", "check-index"])
    assert result.exit_code == 1
    assert f"thread {t.id} differs" in result.output
    result = runner.invoke(args=["forum", "reindex"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["forum", "check-index"]).exit_code == 0


def test_gaps_wait_for_late_ids_then_expire(app, client):
    from forum.models import SearchChange

    t = f.thread(f.user(), title="Dunlin", body="Shore.")
    newest = changes.latest_change_id()
    db.session.add(SearchChange(id=newest + 3, thread_id=t.id))
    db.session.commit()
    changes.apply_pending()
    meta = read_meta(changes.store().searcher())
    assert meta["applied"] == newest + 3
    assert set(meta["gaps"]) == {str(newest + 1), str(newest + 2)}
    # A "late commit" fills one gap: it is applied and forgotten.
    t.title = "Dunlin flock"
    db.session.add(SearchChange(id=newest + 1, thread_id=t.id))
    db.session.commit()
    changes.apply_pending()
    meta = read_meta(changes.store().searcher())
    assert set(meta["gaps"]) == {str(newest + 2)}
    assert titles(client, "flock") == {"Dunlin flock"}
    app.config["SEARCH_GAP_TIMEOUT"] = 0.0  # the other one never commits: it expires
    time.sleep(0.05)
    changes.apply_pending()
    assert read_meta(changes.store().searcher())["gaps"] == {}


def test_optimise_leaves_one_segment_and_no_erased_words(app, client):
    author = f.user()
    t = f.thread(author, title="Godwit secret", body="Uniqueword should vanish.")
    f.thread(author, title="Other bird", body="Stays.")
    from forum.threads import service

    service.delete_post(author, t.question)
    from forum.search import purge_and_optimise

    purge_and_optimise()
    st = changes.store()
    gen = Path(st.root) / st.current_name()
    blob = b"".join(p.read_bytes() for p in gen.iterdir() if p.is_file())
    assert b"uniqueword" not in blob.lower()
    assert len(st.generations()) == 1
    assert titles(client, "bird") == {"Other bird"}


def test_a_merge_never_pulls_files_from_under_an_open_searcher(app, client):
    """A searcher opened before another writer merged (and dropped) its segments still
    reads every stored field: the merged-away files are retired, not deleted at once."""
    from forum.search import index

    author = f.user()
    for n in range(6):
        f.thread(author, title=f"Sanderling {n}", body="Tide line.")
    assert applier.wait_for_applier(app)
    st = changes.store()
    old = st.open_index().searcher()  # its column files are opened only when first read
    try:
        writer = st.writer(timeout=30)
        writer.commit(optimize=True)  # every segment merged into one: the old ones drop
        stored = [fields["id"] for fields in old.reader().all_stored_fields()]
        assert len(stored) == 7  # six threads and the meta document, each read whole
        assert read_meta(old)["applied"] >= 6
    finally:
        old.close()
    assert titles(client, "sanderling") == {f"Sanderling {n}" for n in range(6)}
    # Long after, the next commit deletes the retired files.
    gen = Path(st.root) / st.current_name()
    before = len(list(gen.iterdir()))
    writer = st.writer(timeout=30)
    index.retire_files(
        writer.storage, index.INDEX_NAME, writer.generation - 1, writer.segments,
        now=time.time() + index.RETIRE_SECONDS + 1,
    )  # fmt: skip
    writer.cancel()
    assert len(list(gen.iterdir())) < before
    assert titles(client, "sanderling") == {f"Sanderling {n}" for n in range(6)}


def test_a_person_finds_their_own_post_at_once_through_the_web(app, client):
    """The index is written in the background; the poster's next search waits for it."""
    from datetime import timedelta

    from forum.models import utcnow
    from tests.conftest import AuthActions, csrf_from

    me = f.user("avocet_ann")
    me.created_at = utcnow() - timedelta(days=30)
    db.session.commit()
    AuthActions(client).login("avocet_ann")
    token = csrf_from(client.get("/ask").get_data(as_text=True))
    resp = client.post(
        "/ask",
        data={
            "title": "Avocet question about night sweats",
            "body": "Week two on aza.",
            "conditions": ["lupus"],
            "submit": "Post question",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 302
    assert titles(client, "avocet") == {"Avocet question about night sweats"}
    assert applier.wait_for_applier(app)
    assert titles(app.test_client(), "avocet") == {"Avocet question about night sweats"}
