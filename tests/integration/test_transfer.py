"""Import and export services against a real SQLite database."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select

from forum import transfer
from forum.extensions import db
from forum.models import Post, Thread, User
from forum.threads import service
from tests import factories


def line(**overrides) -> str:
    item = {
        "title": "Hair thinning three months into aza?",
        "body": "Is anyone else losing more hair in the shower?",
        "author": "hedgerow_kate",
        "created": "2025-03-02T10:15:00Z",
        "conditions": ["Lupus"],
        "side_effects": ["hair loss"],
        "medications": ["Imuran", "pred"],
        "replies": [
            {"author": "Marcus_T", "body": "Mine settled after a few months.", "created": None},
            {"author": "hedgerow_kate", "body": "Thanks, that helps.", "created": None},
        ],
    }
    item.update(overrides)
    return json.dumps({k: v for k, v in item.items() if v is not ...})


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_import_maps_vocabulary_and_creates_passwordless_authors(app):
    report = transfer.import_lines([line()])
    assert (report.imported, report.skipped, report.accounts_created) == (1, [], 2)
    thread = db.session.scalars(select(Thread)).one()
    assert thread.tag_slugs("condition") == ["lupus"]
    assert thread.tag_slugs("side_effect") == ["hair-loss"]
    assert sorted(thread.tag_slugs("medication")) == ["azathioprine", "prednisolone"]
    assert thread.created_at == datetime(2025, 3, 2, 10, 15)
    assert [p.author.display_name for p in thread.posts] == ["hedgerow_kate", "Marcus_T"] + [
        "hedgerow_kate"
    ]
    assert thread.reply_count == 2
    kate = User.by_name("HEDGEROW_KATE")
    assert kate.password_hash is None and kate.email is None
    assert not kate.check_password("")


def test_existing_author_is_matched_regardless_of_case(app):
    member = factories.user("Marcus_T")
    report = transfer.import_lines([line(author="marcus_t", replies=[])])
    assert report.accounts_created == 0
    assert db.session.scalars(select(Thread)).one().author_id == member.id


def test_import_renders_and_sanitises_like_the_web_forms(app):
    body = "Look <script>alert(1)</script> [x](javascript:alert(1)) **bold**"
    transfer.import_lines([line(body=body, replies=[])])
    html = db.session.scalars(select(Post)).one().body_html
    assert "<script" not in html and "href" not in html
    assert "<strong>bold</strong>" in html


def test_same_lines_twice_are_already_present(app):
    lines = [line(), line(title="Second question", replies=[])]
    first = transfer.import_lines(lines)
    second = transfer.import_lines(lines)
    assert first.imported == 2
    assert (second.imported, second.already_present, second.skipped) == (0, 2, [])
    assert count(Thread) == 2
    assert count(Post) == 4


def test_duplicate_inside_one_file_is_imported_once(app):
    report = transfer.import_lines([line(), line(title="  Hair thinning  three months into aza? ")])
    assert (report.imported, report.already_present) == (1, 1)


def test_bad_lines_are_reported_by_number_and_the_rest_imports(app):
    lines = [
        line(title="Good one"),
        "{not json",
        line(title="x" * 201),
        line(conditions=["Dragon pox"]),
        line(replies=[{"author": "someone"}]),
        line(created="last Tuesday"),
        line(conditions="Lupus"),
        b'{"title": "caf\xe9", "body": "b", "author": "a", "conditions": ["lupus"]}',
        "",
        line(title="Good two", author=...),
        "[1, 2]",
        line(title="Good three", body=42),
        line(title="Good four", replies=[]),
    ]
    report = transfer.import_lines(lines)
    reasons = dict(report.skipped)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 10, 11, 12]
    assert "JSON" in reasons[2]
    assert "200" in reasons[3]
    assert "Dragon pox" in reasons[4]
    assert "reply 1 body" in reasons[5]
    assert "ISO-8601" in reasons[6]
    assert "conditions" in reasons[7]
    assert "UTF-8" in reasons[8]
    assert "author" in reasons[10]
    assert "object" in reasons[11]
    assert "body" in reasons[12]
    assert report.imported == 2
    titles = set(db.session.scalars(select(Thread.title)))
    assert titles == {"Good one", "Good four"}


def test_skipped_line_leaves_no_account_behind(app):
    report = transfer.import_lines(
        [line(author="ghost_writer", conditions=["Dragon pox"]), line(author="real_one")]
    )
    assert report.imported == 1
    assert User.by_name("ghost_writer") is None
    assert User.by_name("real_one") is not None


def test_unknown_side_effect_and_medication_are_warnings(app):
    report = transfer.import_lines(
        [line(side_effects=["hair loss", "glowing ears"], medications=["Imuran", "zorbex"])]
    )
    assert report.imported == 1 and report.skipped == []
    messages = " ".join(message for _, message in report.warnings)
    assert "glowing ears" in messages and "zorbex" in messages
    thread = db.session.scalars(select(Thread)).one()
    assert thread.tag_slugs("side_effect") == ["hair-loss"]


def test_offsets_become_naive_utc(app):
    transfer.import_lines([line(created="2025-06-01T09:30:00+02:00", replies=[])])
    assert db.session.scalars(select(Thread)).one().created_at == datetime(2025, 6, 1, 7, 30)


def test_missing_created_defaults_to_now(app):
    transfer.import_lines([line(created=..., replies=[])])
    thread = db.session.scalars(select(Thread)).one()
    assert thread.created_at.year >= 2026


def test_export_round_trip_into_a_fresh_app(app, tmp_path):
    from forum import create_app

    kate = factories.user("hedgerow_kate")
    marcus = factories.user("Marcus_T")
    factories.thread(
        kate,
        title="Sjögren's and aza nausea",
        body="Taking it with food helped *a bit*.",
        conditions=("Sjogrens", "lupus"),
        side_effects=("nausea",),
        medications=("Imuran", "hydroxychloroquine"),
        replies=[(marcus, "Splitting the dose worked for me."), (kate, "Will try that.")],
    )
    exported = list(transfer.export_threads())
    assert exported[0]["created"].endswith("Z")

    other = create_app(
        {"TESTING": True, "INSTANCE_PATH": str(tmp_path / "other"), "SECRET_KEY": "x"}
        | {"LOAD_DEMO_ON_FIRST_START": False, "RATELIMIT_ENABLED": False}
    )
    with other.app_context():
        report = transfer.import_lines([transfer.dump_line(item) for item in exported])
        assert (report.imported, report.warnings, report.skipped) == (1, [], [])
        again = list(transfer.export_threads())
        thread = db.session.scalars(select(Thread)).one()
        assert thread.tag_slugs("condition") == ["lupus", "sjogrens"]
        assert thread.tag_slugs("medication") == ["azathioprine", "hydroxychloroquine"]
        db.session.remove()
        db.engine.dispose()
    assert again == exported


def test_export_then_import_into_the_same_forum_adds_nothing(app):
    factories.thread(title="Written on the web", replies=[(factories.user(), "A reply.")])
    exported = [transfer.dump_line(item) for item in transfer.export_threads()]
    report = transfer.import_lines(exported)
    assert (report.imported, report.already_present) == (0, 1)
    assert count(Thread) == 1


def test_hidden_and_deleted_content_is_not_exported(app):
    author, other = factories.user(), factories.user()
    kept = factories.thread(author, title="Kept", replies=[(other, "visible"), (other, "gone")])
    factories.thread(author, title="Hidden by a moderator").is_hidden = True
    db.session.commit()
    removed = factories.thread(author, title="Removed by its author")
    service.delete_post(author, removed.question)
    service.delete_post(other, kept.posts[2])
    hidden_reply = service.add_reply(other, kept, "hidden reply")
    hidden_reply.is_hidden = True
    db.session.commit()

    exported = list(transfer.export_threads())
    assert [item["title"] for item in exported] == ["Kept"]
    assert [r["body"] for r in exported[0]["replies"]] == ["visible"]


def test_export_threads_takes_a_query_for_one_persons_data(app):
    me, someone = factories.user(), factories.user()
    factories.thread(me, title="Mine")
    factories.thread(someone, title="Theirs")
    mine = list(transfer.export_threads(select(Thread).where(Thread.author_id == me.id)))
    assert [item["title"] for item in mine] == ["Mine"]
    assert mine[0]["author"] == me.display_name


def test_export_names_a_former_member(app):
    t = factories.thread(title="Orphaned")
    t.author = None
    t.question.author = None
    db.session.commit()
    assert next(transfer.export_threads())["author"] == transfer.FORMER_MEMBER


def test_export_streams_more_than_one_chunk(app, monkeypatch):
    monkeypatch.setattr(transfer, "EXPORT_CHUNK", 3)
    lines = [line(title=f"Question {n}", replies=[]) for n in range(7)]
    transfer.import_lines(lines)
    titles = [item["title"] for item in transfer.export_threads()]
    assert titles == [f"Question {n}" for n in range(7)]


def test_checkpoints_are_sent_during_bulk_imports(app, monkeypatch):
    monkeypatch.setattr(transfer, "CHECKPOINT_EVERY", 2)
    seen = []

    def receiver(_sender, **_kw):
        seen.append(transfer.importing())

    transfer.import_checkpoint.connect(receiver)
    try:
        transfer.import_lines([line(title=f"Question {n}", replies=[]) for n in range(5)])
    finally:
        transfer.import_checkpoint.disconnect(receiver)
    assert seen == [True, True, True]  # the final one too: the import still counts
    assert not transfer.importing()


def test_account_created_elsewhere_during_an_import_is_used(app):
    importer = transfer.Importer()
    late = factories.user("late_comer")  # e.g. registered while the import was running
    importer.import_line(1, line(author="Late_Comer", replies=[]))
    importer.import_line(2, line(title="Another", author="late_comer", replies=[]))
    assert importer.report.imported == 2 and importer.report.skipped == []
    authors = set(db.session.scalars(select(Thread.author_id)))
    assert authors == {late.id}


def test_thread_imported_elsewhere_during_an_import_is_already_present(app):
    importer = transfer.Importer()
    transfer.import_lines([line(replies=[])])
    importer.import_line(1, line(replies=[]))
    assert (importer.report.imported, importer.report.already_present) == (0, 1)
    assert count(Thread) == 1


def test_include_hidden_keeps_ones_own_hidden_thread_but_not_hidden_replies(app):
    me, other = factories.user(), factories.user()
    thread = factories.thread(me, title="Mine, hidden", replies=[(other, "shown"), (other, "x")])
    thread.is_hidden = True
    thread.question.is_hidden = True
    thread.posts[2].is_hidden = True
    db.session.commit()
    mine = select(Thread).where(Thread.author_id == me.id)
    assert list(transfer.export_threads(mine)) == []
    [item] = transfer.export_threads(mine, include_hidden=True)
    assert item["title"] == "Mine, hidden"
    assert [r["body"] for r in item["replies"]] == ["shown"]


def test_former_member_lines_import_without_an_author_and_round_trip(app):
    """Export writes "a former member" for what an erased member left behind; importing
    that line brings the thread back with no author (no account of that name), and an
    export of the forum imported into it again changes nothing."""
    from forum.privacy import service as privacy

    fern = factories.user("fading_fern")
    other = factories.user("steady_sam")
    thread, _ = service.create_thread(fern, "Ferritin low on aza?", "Mine is 9.", ["lupus"])
    service.add_reply(fern, factories.thread(other, title="Sam asks"), "Fern replies here.")
    privacy.delete_account(fern, factories.PASSWORD, "keep")
    exported = [transfer.dump_line(item) for item in transfer.export_threads()]
    assert sum(transfer.FORMER_MEMBER in e for e in exported) == 2
    users_before, threads_before = count(User), count(Thread)

    again = transfer.import_lines(exported)
    assert (again.imported, again.already_present, again.skipped) == (0, 2, [])
    assert (count(User), count(Thread)) == (users_before, threads_before)

    report = transfer.import_lines(
        [
            line(
                title="Brought over from the old forum",
                author="A Former  Member",
                replies=[{"author": "a former member", "body": "Same here."}],
            )
        ]
    )
    assert (report.imported, report.skipped, report.accounts_created) == (1, [], 0)
    new = db.session.get(Thread, report.thread_ids[0])
    assert new.author_id is None and [p.author_id for p in new.posts] == [None, None]
    assert User.by_name("a former member") is None
    same = line(title="Brought over from the old forum", author="a former member")
    assert transfer.import_lines([same]).already_present == 1
    exported = [transfer.dump_line(item) for item in transfer.export_threads()]
    assert transfer.import_lines(exported).already_present == 3
