"""PostgreSQL hands out sequence ids before commit, so change 41 can commit after change 42.

The index must not skip the late one, however late: a gap is forgotten only once every
transaction that could still commit it has ended (not after a timeout).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from forum import create_app
from forum.extensions import db
from forum.models import utcnow
from forum.search import applier, changes, rebuild
from forum.search.index import read_meta
from forum.search.service import search
from tests import factories, pgtools

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(tmp_path, postgres_url):
    with pgtools.fresh_schema(postgres_url) as url:
        app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path / "instance"),
                "SQLALCHEMY_DATABASE_URI": url,
                "LOAD_DEMO_ON_FIRST_START": False,
                "SECRET_KEY": "test",
                "RATELIMIT_ENABLED": False,
                # A timeout alone would drop the gap after half a second.
                "SEARCH_GAP_TIMEOUT": 0.5,
            }
        )
        with app.app_context():
            yield app, url
            db.session.remove()
            db.engine.dispose()


def titles(q: str) -> list[str]:
    return [hit.thread.title for hit in search(q).items]


def test_late_committing_lower_change_id_is_applied(pg_app):
    _app, url = pg_app
    author = factories.user("gap_gwen")
    early = factories.thread(author, title="Tiredness after the morning dose", body="Any tips?")

    # Another server's transaction takes the next change id, then dawdles before commit.
    other = create_engine(url)
    slow = other.connect()
    slow_tx = slow.begin()
    slow.execute(
        text(
            "UPDATE threads SET title = 'Tiredness gone after switching to evenings' WHERE id = :id"
        ),
        {"id": early.id},
    )
    late_id = slow.scalar(
        text("INSERT INTO search_changes (thread_id, created_at) VALUES (:t, :c) RETURNING id"),
        {"t": early.id, "c": utcnow()},
    )
    try:
        # Meanwhile this server commits a higher id, and the index moves past it.
        factories.thread(author, title="Rash on the arms", body="Sun related?")
        applier.wait_for_applier(_app)  # the index is written by the background applier
        meta = read_meta(changes.store().searcher())
        assert meta["applied"] > late_id
        assert str(late_id) in meta["gaps"]

        time.sleep(1.5)  # past SEARCH_GAP_TIMEOUT and the one-second floor
        changes.apply_pending()
        meta = read_meta(changes.store().searcher())
        assert str(late_id) in meta["gaps"], "a running transaction's gap was forgotten"
        assert titles("evenings") == []

        slow_tx.commit()
    finally:
        slow.close()
        other.dispose()

    changes.apply_pending()
    assert titles("evenings") == ["Tiredness gone after switching to evenings"]
    meta = read_meta(changes.store().searcher())
    assert str(late_id) not in meta["gaps"]
    assert rebuild.check_index() == []


def test_rolled_back_gap_is_settled_without_waiting_for_a_timeout(pg_app):
    app, url = pg_app
    app.config["SEARCH_GAP_TIMEOUT"] = 3600  # only the transaction ids can settle it
    author = factories.user("gap_gus")
    thread = factories.thread(author, title="Hair thinning at month three", body="Normal?")

    other = create_engine(url)
    with other.connect() as conn:
        tx = conn.begin()
        lost_id = conn.scalar(
            text("INSERT INTO search_changes (thread_id, created_at) VALUES (:t, :c) RETURNING id"),
            {"t": thread.id, "c": utcnow()},
        )
        factories.thread(author, title="Nausea with food or without", body="Which helps?")
        applier.wait_for_applier(app)
        assert str(lost_id) in read_meta(changes.store().searcher())["gaps"]
        tx.rollback()
    other.dispose()

    time.sleep(1.2)
    factories.thread(author, title="Blood test schedule", body="Weekly at first?")
    applier.wait_for_applier(app)
    assert str(lost_id) not in read_meta(changes.store().searcher())["gaps"]
