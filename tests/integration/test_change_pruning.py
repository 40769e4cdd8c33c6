"""The change record stays small: pruned once every live replica is past it (or a day old),
and a replica that fell behind the pruned record rebuilds itself from the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from forum.extensions import db
from forum.models import SearchChange, utcnow
from forum.search import changes, rebuild
from forum.search.index import IndexUnavailable, read_meta
from forum.search.replica import (
    ReplicaPosition,
    check_not_pruned,
    prune,
    record_position,
    safe_position,
    watermark,
)
from forum.search.service import search
from tests import factories


def change_ids() -> list[int]:
    return list(db.session.scalars(select(SearchChange.id).order_by(SearchChange.id)))


def prune_now(app, **overrides) -> int:
    config = {**app.config, "SEARCH_CHANGES_MIN_AGE": 0, **overrides}
    with db.engine.begin() as conn:
        return prune(conn, config)


def at(replica: str, position: int, age: timedelta = timedelta(0)) -> None:
    with db.engine.begin() as conn:
        record_position(conn, replica, position)
        conn.execute(
            update(ReplicaPosition.__table__)
            .where(ReplicaPosition.replica_id == replica)
            .values(updated_at=utcnow() - age)
        )


@pytest.fixture
def five_changes(app):
    author = factories.user("prune_pat")
    for n in range(5):
        factories.thread(author, title=f"Question number {n} about aza", body="Details.")
    ids = change_ids()
    assert len(ids) >= 5
    return ids


def test_changes_every_live_replica_applied_are_pruned(app, five_changes):
    ids = five_changes
    at("server-a", ids[2])
    at("server-b", ids[-1])
    at("server-gone", ids[0], age=timedelta(hours=5))  # not live: ignored

    prune_now(app)

    assert change_ids() == ids[3:]
    assert watermark(db.session) == ids[3]
    check_not_pruned(db.session, ids[2])  # the slowest live replica is fine
    with pytest.raises(IndexUnavailable):
        check_not_pruned(db.session, ids[0])  # the gone one would have to rebuild


def test_young_changes_and_the_newest_are_kept(app, five_changes):
    ids = five_changes
    at("server-a", ids[-1])
    assert prune_now(app, SEARCH_CHANGES_MIN_AGE=3600) == 0  # all younger than an hour
    assert change_ids() == ids

    prune_now(app)
    assert change_ids() == ids[-1:]  # SQLite would reuse the newest id if it went


def test_a_day_old_changes_go_whatever_a_replica_needs(app, five_changes):
    ids = five_changes
    at("server-slow", ids[0])
    db.session.execute(update(SearchChange).values(created_at=utcnow() - timedelta(days=2)))
    db.session.commit()
    prune_now(app)
    assert change_ids() == ids[-1:]
    with pytest.raises(IndexUnavailable):
        check_not_pruned(db.session, ids[0])


def test_an_index_behind_the_pruned_record_rebuilds_from_the_database(app, five_changes):
    author = factories.user("late_lee")
    applied = read_meta(changes.store().searcher())["applied"]
    # This server's index misses later changes (as if it had been switched off) ...
    app.config["SEARCH_SYNC"] = False
    factories.thread(author, title="Mouth ulcers in week two", body="Anyone?")
    factories.thread(author, title="Joint pain when stopping", body="Normal?")
    app.config["SEARCH_SYNC"] = True
    # ... and meanwhile they are pruned, with every other change.
    prune_now(app, SEARCH_CHANGES_MAX_AGE=0)
    assert watermark(db.session) > applied + 1

    assert not rebuild.index_ok()
    assert rebuild.ensure_index(app)  # a small forum rebuilds in the foreground
    assert [h.thread.title for h in search("ulcers").items] == ["Mouth ulcers in week two"]
    assert rebuild.check_index() == []


def test_safe_position_stops_below_the_lowest_open_gap():
    assert safe_position(40, {}) == 40
    assert safe_position(40, {"37": 1.0, "39": 2.0}) == 36


def test_prune_on_an_empty_record_does_nothing(app):
    assert db.session.scalar(select(func.count(SearchChange.id))) == 0
    assert prune_now(app) == 0
