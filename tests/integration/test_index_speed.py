"""The fast rebuild (forum.search.build) writes the index whoosh's own writer would.

A rebuild analyses each text once, keeps postings in a compact in-memory pool, reads
field lengths from memory, gives the spelling field each word once, and can run in
several worker processes. None of that may change what a search reads: the terms and
their postings, field lengths, stored fields, columns and spelling words must equal
those of an index written document by document with whoosh's stock writer and the
plain analyzer. Real database, real indexes.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time

import pytest
from sqlalchemy import select, update
from whoosh import index as whoosh_index

from forum import create_app
from forum.demo import load_demo
from forum.extensions import db
from forum.models import Post, Thread
from forum.search import applier, build, changes, documents, rebuild
from forum.search.documents import meta_document, thread_documents
from forum.search.schema import build_schema
from forum.services import commit, record_search_change
from tests import factories as f

SPAWN = multiprocessing.get_context("spawn")


def _forum(app) -> None:
    """The demo forum (varied text, tags, helpful votes, experience reports), one hidden
    reply and one hidden thread, plus threads whose text exercises the analyzer."""
    load_demo()
    reply = db.session.scalars(select(Post).where(Post.is_question.is_(False))).first()
    db.session.execute(update(Post).where(Post.id == reply.id).values(is_hidden=True))
    record_search_change([reply.thread_id])
    hidden = db.session.scalars(select(Thread).order_by(Thread.id.desc())).first()
    db.session.execute(update(Thread).where(Thread.id == hidden.id).values(is_hidden=True))
    record_search_change([hidden.id])
    commit()
    author = f.user("analyser")
    f.thread(
        author,
        title="The haemoglobin and oedema question",
        body="It's Crohn’s: Sjögren's, immunised, diarrhoea; the the and of 6-MP 50mg.",
        replies=[(f.user("replier"), "Hair coming out, low white count, feel sick.")],
    )
    changes.apply_pending(timeout=30)


def _visible_ids() -> list[int]:
    return list(
        db.session.scalars(
            select(Thread.id)
            .where(Thread.is_deleted.is_(False), Thread.is_hidden.is_(False))
            .order_by(Thread.id)
        )
    )


def _reference_index(path) -> object:
    """Every document added as plain strings with whoosh's stock writer."""
    path.mkdir()
    ix = whoosh_index.create_in(str(path), build_schema(), indexname="MAIN")
    writer = ix.writer()
    with changes._session() as session:
        threads = documents.load_threads(session, _visible_ids())
        docs = thread_documents([threads[i] for i in sorted(threads)])
    for doc in docs:
        doc = {k: (str(v) if isinstance(v, str) else v) for k, v in doc.items()}
        assert type(doc["content"]) is str
        writer.add_document(**doc)
    writer.add_document(**meta_document({"applied": 0}))
    writer.commit()
    return ix


def _contents(ix, blocks: bool = True) -> dict:
    """What searches can read, keyed by thread id rather than document number; with
    ``blocks``, the posting blocks' length and weight bounds too (scoring uses them to
    skip blocks; they depend on document order, which a parallel build changes)."""
    out: dict = {}
    with ix.searcher() as searcher:
        reader = searcher.reader()
        ids = {docnum: stored["id"] for docnum, stored in reader.iter_docs()}
        out["stored"] = {ids[d]: stored for d, stored in reader.iter_docs() if "meta" not in stored}
        schema = reader.schema
        for fieldname, btext in reader.all_terms():
            if fieldname.startswith("spell_"):
                out.setdefault(fieldname, set()).add(btext)
                continue
            postings = reader.postings(fieldname, btext)
            rows = []
            while postings.is_active():
                if ids[postings.id()] != "__meta__":
                    row = (ids[postings.id()], postings.weight(), postings.value())
                    if blocks:
                        row += (
                            postings.block_min_length(),
                            postings.block_max_length(),
                            postings.block_max_weight(),
                        )
                    rows.append(row)
                postings.next()
            out[(fieldname, btext)] = sorted(rows)
        for docnum, thread_id in ids.items():
            for name in schema.scorable_names():
                out[("length", thread_id, name)] = reader.doc_field_length(docnum, name)
        for name in schema.names():
            if schema[name].column_type and reader.has_column(name):
                column = reader.column_reader(name, translate=False)
                for docnum, thread_id in ids.items():
                    out[("column", thread_id, name)] = column[docnum]
    return out


@pytest.mark.parametrize("procs", [1, 2])
def test_rebuild_writes_what_the_stock_writer_writes(app, tmp_path, procs):
    _forum(app)
    assert len(_visible_ids()) > 50
    rebuild.rebuild(procs=procs)
    built = _contents(changes.store().open_index(), blocks=procs == 1)
    expected = _contents(_reference_index(tmp_path / "reference"), blocks=procs == 1)
    assert built.keys() == expected.keys()
    for key in expected:
        assert built[key] == expected[key], key
    # The comparison covered what matters (not an empty or meta-only index).
    assert ("concepts", b"side_effect:hair-loss") in expected
    assert len(expected["spell_content"]) > 500
    assert rebuild.check_index() == []


def _segment(ix_path, lean: bool, monkeypatch):
    """An index of one segment of the forum's visible threads (and the meta document)
    written by the fast builder, with or without ``postwriter``; (index, file prefix)."""
    from forum.search.fastwriter import _BuildWriter, _SegmentBuilder

    monkeypatch.setattr(_BuildWriter, "lean_postings", lean)
    ix_path.mkdir()
    ix = whoosh_index.create_in(str(ix_path), build_schema(), indexname="MAIN")
    writer = ix.writer()
    builder = _SegmentBuilder(ix)
    with changes._session() as session:
        builder.add_batch(session, _visible_ids())
    builder.add(meta_document({"applied": 0}))
    segments = builder.close()
    writer.commit(mergetype=lambda _w, existing: list(existing) + segments)
    return whoosh_index.open_dir(str(ix_path), indexname="MAIN"), f"MAIN_{segments[0].segid}"


def test_lean_postings_writer_writes_whooshs_bytes(app, tmp_path, monkeypatch):
    """``postwriter`` writes the terms and postings files byte for byte as whoosh's own
    field writer does from the same documents (lists of several blocks, spelling words,
    keyword and positions fields, the meta document); with tiny blocks left
    uncompressed and a small zlib window (its defaults) whoosh reads the same postings
    and statistics."""
    from forum.search import postwriter

    _forum(app)
    author = f.user("blocker")
    for n in range(140):  # a term in more documents than a block holds (128)
        f.thread(author, title=f"Blocks of postings {n}", body=f"Tiredness, week {n}.")
    changes.apply_pending(timeout=30)
    stock, stock_prefix = _segment(tmp_path / "stock", False, monkeypatch)
    monkeypatch.setattr(postwriter, "COMPRESS_MIN", 0)
    monkeypatch.setattr(postwriter, "WBITS", 15)  # whoosh's: zlib's default window
    _, exact_prefix = _segment(tmp_path / "exact", True, monkeypatch)
    for ext in (".trm", ".pst"):
        exact = (tmp_path / "exact" / f"{exact_prefix}{ext}").read_bytes()
        assert exact == (tmp_path / "stock" / f"{stock_prefix}{ext}").read_bytes(), ext
    assert len(exact) > 20_000
    monkeypatch.setattr(postwriter, "COMPRESS_MIN", 200)
    monkeypatch.setattr(postwriter, "WBITS", 12)
    lean, _ = _segment(tmp_path / "lean", True, monkeypatch)
    assert _contents(lean) == _contents(stock)
    with lean.reader() as reader, stock.reader() as expected:
        for term in expected.all_terms():
            found, wanted = (vars(r.term_info(*term)).copy() for r in (reader, expected))
            for where in ("_offset", "_length"):  # the extent in the postings file
                del found[where], wanted[where]
            assert found == wanted, term


def test_parallel_rebuild_spreads_threads_over_segments_and_searches_find_them(app, client):
    author = f.user()
    for n in range(40):
        f.thread(author, title=f"Kestrel {n}", body=f"Hovering kestrel number {n}.")
    applier.wait_for_applier(app)  # nothing pending: no commit after the rebuild's own
    old = build.CHUNK
    build.CHUNK = 5  # several batches per worker with a small forum
    try:
        name = rebuild.rebuild(procs=2)
    finally:
        build.CHUNK = old
    ix = changes.store().open_index(name)
    assert len(ix._segments()) == 2  # one per worker (the meta document in the first)
    found = client.get("/api/v1/search", query_string={"q": "kestrel", "per_page": 100})
    assert found.get_json()["total"] == 40
    assert rebuild.check_index() == []
    # Writes after a parallel rebuild land as usual.
    f.thread(author, title="Kestrel late", body="After the rebuild.")
    found = client.get("/api/v1/search", query_string={"q": "kestrel", "per_page": 100})
    assert found.get_json()["total"] == 41
    assert rebuild.check_index() == []


def test_reindex_command_takes_procs(app, runner):
    for n in range(3):
        f.thread(f.user(), title=f"Merlin {n}", body="Falcon.")
    result = runner.invoke(args=["forum", "reindex", "--procs", "2"])
    assert result.exit_code == 0, result.output
    assert "2 processes" in result.output
    assert runner.invoke(args=["forum", "check-index"]).exit_code == 0
    assert build.procs_for(10, None) == 1  # small forums: one process
    assert build.procs_for(10**6, None) == build.default_procs()


def _slow_parallel_rebuild(instance: str, ready) -> None:
    from forum.search.documents import document_extras

    def slow(_sender, thread):
        ready.set()
        time.sleep(0.05)
        return {}

    document_extras.connect(slow, weak=False)
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": instance,
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            "SEARCH_SYNC": False,
        }
    )
    with app.app_context():
        build.CHUNK = 5
        rebuild.rebuild(procs=2)


def test_killed_parallel_rebuild_leaves_the_old_index_and_frees_the_lock(app, client):
    author = f.user()
    for n in range(60):
        f.thread(author, title=f"Osprey {n}", body="Fishing.")
    before = changes.store().current_name()
    ready = SPAWN.Event()
    proc = SPAWN.Process(target=_slow_parallel_rebuild, args=(app.instance_path, ready))
    proc.start()
    assert ready.wait(60), "the rebuild's workers did not start"
    time.sleep(0.5)
    assert proc.is_alive()
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert changes.store().current_name() == before
    found = client.get("/api/v1/search", query_string={"q": "osprey", "per_page": 100})
    assert found.get_json()["total"] == 60
    # The workers died with their parent, so the rebuild lock they inherited is free.
    name = rebuild.rebuild(lock_timeout=20)
    assert name is not None and changes.store().current_name() == name
    assert rebuild.check_index() == []


def test_import_applies_at_checkpoints_and_the_index_matches(app, client, monkeypatch):
    """An import defers index work to its checkpoints (a background thread of this
    process sees the import too), and ends with every thread searchable."""
    import json
    import threading

    from forum import transfer

    monkeypatch.setattr(transfer, "CHECKPOINT_EVERY", 3)
    seen_elsewhere = []

    def at_checkpoint(_sender, **_kw):
        probe = threading.Thread(target=lambda: seen_elsewhere.append(transfer.importing()))
        probe.start()
        probe.join()

    lines = [
        json.dumps(
            {
                "title": f"Goshawk sighting {n}",
                "body": f"A goshawk over the wood, number {n}.",
                "author": f"birder{n % 3}",
                "created": f"2024-01-{n + 1:02d}T10:00:00Z",
                "conditions": ["Lupus"],
                "replies": [{"author": "reply_person", "body": "Lovely goshawk."}],
            }
        )
        for n in range(8)
    ]
    transfer.import_checkpoint.connect(at_checkpoint)
    try:
        report = transfer.import_lines(lines)
    finally:
        transfer.import_checkpoint.disconnect(at_checkpoint)
    assert report.imported == 8 and not report.skipped
    assert seen_elsewhere == [True, True, True]  # the final checkpoint's too
    assert not transfer.importing()
    found = client.get("/api/v1/search", query_string={"q": "goshawk", "per_page": 100})
    assert found.get_json()["total"] == 8
    assert rebuild.check_index() == []
    again = transfer.import_lines(lines)  # duplicates are recognised by their import key
    assert again.imported == 0 and again.already_present == 8


def test_background_rebuild_in_a_serving_process_can_use_workers(app, client):
    """A web process rebuilds a broken index in a background thread; for a large forum
    that thread forks the workers (here: made "large" by configuration)."""
    author = f.user()
    for n in range(12):
        f.thread(author, title=f"Harrier {n}", body="Quartering the moor.")
    app.config["SEARCH_REBUILD_PARALLEL_MIN"] = 1
    old = build.CHUNK
    build.CHUNK = 4
    try:
        before = changes.store().current_name()
        assert rebuild.request_rebuild(app, force=True, verify=False)
        rebuild.wait_for_rebuild(app, 120)
    finally:
        build.CHUNK = old
    name = changes.store().current_name()
    assert name != before
    # The configuration made this forum "large": the rebuild chose the workers. (The
    # segments they wrote may be merged at once by the applier's next commit.)
    assert build.procs_for(12, None) == build.default_procs()
    found = client.get("/api/v1/search", query_string={"q": "harrier", "per_page": 100})
    assert found.get_json()["total"] == 12
    assert rebuild.check_index() == []


def _stuck_in_worker(real, which: str):
    """``real``, except that in the forked worker named ``...-<which>`` it never returns
    (a worker waiting for ever on a lock it inherited at the fork)."""
    parent = os.getpid()

    def stuck(*args, **kwargs):
        name = multiprocessing.current_process().name
        if os.getpid() != parent and name.endswith(f"-{which}"):
            time.sleep(3600)
        return real(*args, **kwargs)

    return stuck


def _within(app, seconds: float, work):
    """``work()`` in the app's context on another thread; fails (rather than hanging the
    test run) when it has not returned after ``seconds``."""
    out: dict = {}

    def run():
        with app.app_context():
            out["value"] = work()

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(seconds)
    assert not runner.is_alive(), f"still waiting after {seconds} s"
    return out["value"]


@pytest.mark.parametrize("where", ["connecting", "indexing"])
def test_rebuild_with_a_stuck_worker_finishes_in_this_process(
    app, client, monkeypatch, caplog, where
):
    """A worker that hangs (before it is ready, or after) stops the workers after the
    configured silence and the rebuild indexes everything here: a serving process's
    background rebuild once waited for ever on such a worker."""
    author = f.user()
    for n in range(40):
        f.thread(author, title=f"Peregrine {n}", body="Stooping.")
    applier.wait_for_applier(app)
    if where == "connecting":
        monkeypatch.setattr(build, "_connected", _stuck_in_worker(build._connected, "1"))
        app.config["SEARCH_WORKER_READY_S"] = 2
    else:
        add_batch = _stuck_in_worker(build._SegmentBuilder.add_batch, "1")
        monkeypatch.setattr(build._SegmentBuilder, "add_batch", add_batch)
        app.config["SEARCH_WORKER_STALL_S"] = 2
    monkeypatch.setattr(build, "CHUNK", 5)
    before = changes.store().current_name()
    name = _within(app, 90, lambda: rebuild.rebuild(procs=2))
    assert name is not None and name != before
    assert changes.store().current_name() == name
    said = "1 of 2 index workers not ready after 2 s" if where == "connecting" else "no word"
    assert said in caplog.text
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("search-")]
    found = client.get("/api/v1/search", query_string={"q": "peregrine", "per_page": 100})
    assert found.get_json()["total"] == 40
    assert rebuild.check_index() == []


def test_check_index_with_a_stuck_worker_checks_in_this_process(app, monkeypatch, caplog):
    author = f.user()
    threads = [f.thread(author, title=f"Hobby {n}", body="Hawking.") for n in range(30)]
    applier.wait_for_applier(app)
    app.config["SEARCH_REBUILD_PARALLEL_MIN"] = 1  # "large": fingerprints in workers
    app.config["SEARCH_WORKER_STALL_S"] = 2
    monkeypatch.setattr(build, "CHUNK", 4)
    stuck = _stuck_in_worker(build._chunk_fingerprints, "0")
    monkeypatch.setattr(build, "_chunk_fingerprints", stuck)
    db.session.execute(update(Thread).where(Thread.id == threads[7].id).values(title="Renamed"))
    db.session.commit()
    problems = _within(app, 90, rebuild.check_index)
    assert problems == [f"thread {threads[7].id} differs from the database"]
    assert "no word from the check workers" in caplog.text


def test_check_index_in_workers_finds_every_kind_of_difference(app):
    author = f.user()
    threads = [f.thread(author, title=f"Buzzard {n}", body="Soaring.") for n in range(30)]
    applier.wait_for_applier(app)
    app.config["SEARCH_REBUILD_PARALLEL_MIN"] = 1  # "large": fingerprints in workers
    old = build.CHUNK
    build.CHUNK = 4
    try:
        assert rebuild.check_index() == []
        # Behind the index's back (no recorded change): a new title, a hidden thread ...
        renamed, hidden, dropped = threads[3].id, threads[20].id, threads[11].id
        db.session.execute(update(Thread).where(Thread.id == renamed).values(title="Renamed"))
        db.session.execute(update(Thread).where(Thread.id == hidden).values(is_hidden=True))
        db.session.commit()
        # ... and a document gone from the index.
        writer = changes.store().writer()
        writer.delete_by_term("id", str(dropped))
        writer.commit()
        problems = rebuild.check_index()
    finally:
        build.CHUNK = old
    assert problems == [
        f"thread {renamed} differs from the database",
        f"thread {dropped} is missing from the index",
        f"thread {hidden} is in the index but not visible in the database",
    ]


def test_reindex_command_waits_for_the_rebuild_start_up_began_instead_of_repeating_it(app):
    """`flask forum reindex` in a process whose start found the index outdated (and began
    rebuilding it in the background) waits for that rebuild rather than running a second
    full one: at 100,000 threads that second one doubled the command's time."""
    import threading

    from forum.search.documents import document_extras

    author = f.user()
    for n in range(3):
        f.thread(author, title=f"Kestrel {n}", body="Hovering over the verge.")
    applier.wait_for_applier(app)
    started, release = threading.Event(), threading.Event()

    def hold(sender, thread):
        started.set()
        release.wait(20)
        return {}

    document_extras.connect(hold, weak=False)
    try:
        before = set(changes.store().generations())
        assert rebuild.request_rebuild(app, force=True, verify=False)
        assert started.wait(20)
        threading.Timer(0.5, release.set).start()
        result = app.test_cli_runner().invoke(args=["forum", "reindex"])
    finally:
        release.set()
        document_extras.disconnect(hold)
    assert result.exit_code == 0, result.output
    assert "began at start" in result.output
    assert "Search index rebuilt" in result.output
    made = set(changes.store().generations()) - before
    assert len(made) == 1  # one rebuild, not two
    assert changes.store().current_name() in made
    assert rebuild.check_index() == []


def _pool_files(pool, lengths, lean: bool) -> dict[str, bytes]:
    """The .trm and .pst bytes of a segment holding just ``pool``'s postings, written by
    ``postwriter`` (``lean``) or through whoosh's own field writer."""
    from whoosh.codec.whoosh3 import W3Codec
    from whoosh.filedb.filestore import RamStorage

    from forum.search import fastwriter, postwriter

    storage, codec, schema = RamStorage(), W3Codec(), build_schema()
    segment = codec.new_segment(storage, "MAIN")
    fw = codec.field_writer(storage, segment)
    assert postwriter.supported(fw)
    if lean:
        postwriter.write_postings(fw, schema, lengths, pool)
    else:
        fastwriter._write_postings(fw, schema, lengths, pool)
    fw.close()
    return {ext: storage.open_file(segment.make_filename(ext)).read() for ext in (".trm", ".pst")}


def test_lean_postings_writer_writes_whooshs_bytes_for_one_posting_terms(monkeypatch):
    """Most terms have one posting; ``postwriter`` writes their blocks from remembered
    pickles with the document number's opcode put in. Byte for byte what whoosh's field
    writer writes, at document numbers of every pickled width (one, two and four bytes),
    with weights other than 1, no length, empty, short and long values (compressed or
    not), in positions, frequency and spelling fields, beside terms of many postings."""
    from whoosh.system import pack_uint

    from forum.search import postwriter
    from forum.search.pool import CompactPool

    pool = CompactPool()
    docnums = [0, 7, 255, 256, 4_000, 65_535, 65_536, 300_000]
    for n, docnum in enumerate(docnums):
        positions = list(range(n, n + 1 + 40 * (n % 3)))  # one, 41 or 81 positions
        value = pack_uint(len(positions)) + pickle.dumps(positions, 2)
        pool.add(("content", f"only{n}".encode(), docnum, float(len(positions)), value))
        pool.add(("content", f"boosted{n}".encode(), docnum, 1.5 * (n + 1), value))
        pool.add(("content", b"everywhere", docnum, 1.0, value))
        pool.add(("conditions", f"cond{n}".encode(), docnum, 1.0, pack_uint(1)))
        pool.add(("spell_content", f"word{n}".encode(), 0, 1, None))
    pool.add(("content", b"empty", 9, 1.0, b""))
    lengths = {"content": {d: (d % 200) or None for d in [*docnums, 9]}}

    class Lengths:
        def column(self, fieldname):
            return lengths.get(fieldname)

    monkeypatch.setattr(postwriter, "COMPRESS_MIN", 0)  # whoosh compresses every block
    monkeypatch.setattr(postwriter, "WBITS", 15)  # with zlib's default window
    stock = _pool_files(pool, Lengths(), lean=False)
    assert _pool_files(pool, Lengths(), lean=True) == stock
    # With tiny blocks left uncompressed: the one-posting path writes what the general
    # path writes.
    monkeypatch.setattr(postwriter, "COMPRESS_MIN", 200)
    monkeypatch.setattr(postwriter, "WBITS", 12)
    lean = _pool_files(pool, Lengths(), lean=True)
    monkeypatch.setattr(postwriter, "_one_posting", _general_path)
    assert _pool_files(pool, Lengths(), lean=True) == lean
    assert lean != stock


def _general_path(docs, weights, buf, ends, column, fixedsize, comp, ppos):
    from forum.search import postwriter

    return postwriter._blocks(docs, weights, buf, ends, column, fixedsize, comp, 128, ppos)


def test_packs_written_from_the_builders_pool_equal_packs_decoded_from_the_segment(app, tmp_path):
    """The fast builder writes a segment's postings pack from its in-memory postings as
    it writes the segment; byte for byte the pack ``write_packs`` makes by decoding the
    written segment's blocks: long lists of keyword and positions fields (several blocks,
    weights other than 1), positions, the same order."""
    from forum.search import packs
    from forum.search.fastwriter import _SegmentBuilder
    from forum.search.segment import write_packs

    _forum(app)
    author = f.user("packer")
    for n in range(300):  # lists longer than a pack's minimum and than a block (128)
        f.thread(
            author,
            title=f"Packed postings {n}",
            body="Tiredness and hair loss, week " + "tired " * (n % 4) + str(n),
            conditions=["lupus"],
        )
    (tmp_path / "ix").mkdir()
    ix = whoosh_index.create_in(str(tmp_path / "ix"), build_schema(), indexname="MAIN")
    builder = _SegmentBuilder(ix, packs_from=0)
    with changes._session() as session:
        builder.add_batch(session, _visible_ids())
    [segment] = builder.close()
    path = packs.pack_path(str(tmp_path / "ix"), segment.segment_id())
    from_pool = path.read_bytes()
    path.unlink()
    assert write_packs(ix.storage, ix.schema, [segment]) == 1
    assert path.read_bytes() == from_pool
    pack = packs.Pack(path, segment.doc_count_all())
    assert pack.has_positions
    assert {"content", "title", "conditions", "concepts"} <= set(pack.terms)
    assert len(pack.terms["content"]) > 5
    # Below the minimum document count, no pack.
    builder = _SegmentBuilder(ix, packs_from=10_000)
    with changes._session() as session:
        builder.add_batch(session, _visible_ids())
    [small] = builder.close()
    assert not packs.pack_path(str(tmp_path / "ix"), small.segment_id()).exists()


def test_frequency_fields_shortcut_gives_whooshs_postings():
    """The builder counts a space-separated field's words in one pass and remembers the
    postings of short keyword values (``pool.field_postings``); both must give what whoosh's
    ``field.index`` gives - bytes, counts, weights (with a field boost), packed counts, in
    order - for repeated words, tabs and line breaks, other Unicode spaces (not
    separators for whoosh), non-ASCII words, commas, case and empty values."""
    from whoosh import fields

    from forum.search.pool import field_postings

    schema = build_schema()
    boosted = fields.TEXT(analyzer=schema["concepts"].analyzer, phrase=False, field_boost=2.5)
    values = [
        "",
        "   ",
        "x:dose x:dose x:blood_test condition:lupus x:dose",
        "a\tb\nc\r\nd  a",
        "caf\u00e9 na\u00efve caf\u00e9 \u00a0nbsp\u2003em\u00a0space",
        "Lupus, Crohns-disease , LUPUS,,",
        "one",
    ]
    memo: dict = {}
    for name, field in [(n, schema[n]) for n in ("names", "concepts", "conditions", "tpmt")] + [
        ("boosted", boosted)
    ]:
        for value in values * 2:  # the second time from the memo
            assert list(field_postings(field, name, value, memo)) == list(field.index(value)), (
                name,
                value,
            )
    assert ("conditions", "one") in memo  # the keyword values were remembered
    assert not any(key[0] == "concepts" for key in memo)  # counted, not remembered
