from forum.extensions import db
from forum.models import SearchChange, Thread
from tests import factories


def test_create_thread_records_search_change_in_same_transaction(app):
    t = factories.thread(title="Hair thinning on aza", side_effects=("hair loss",))
    assert db.session.get(Thread, t.id).tag_slugs("side_effect") == ["hair-loss"]
    assert db.session.query(SearchChange).filter_by(thread_id=t.id).count() >= 1
