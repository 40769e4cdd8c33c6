"""/healthz: what a load balancer and an operator see about the database and the index."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from forum import search
from forum.extensions import db
from forum.search import applier
from tests import factories


def test_healthy_server_reports_database_and_index_position(app, client):
    author = factories.user("healthy_hannah")
    factories.thread(author, title="Does aza make you tired in the first weeks?")
    latest = db.session.scalar(text("SELECT max(id) FROM search_changes"))

    resp = client.get("/healthz")

    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert body["database"] == "ok"
    assert body["status"] in ("ok", "degraded")
    index = body["index"]
    assert index["latest_change_id"] == latest
    assert set(index) == {
        "state",
        "applied_change_id",
        "latest_change_id",
        "lag_changes",
        "lag_seconds",
    }


def test_unreachable_database_answers_503(app, client):
    # Point the app at an address where no database answers (a stopped server).
    backend = db.engine.url.get_backend_name()
    if backend == "sqlite":
        dead = create_engine("sqlite:////nonexistent-dir/forum.db")
    else:
        dead = create_engine(f"{db.engine.url.drivername}://nobody@127.0.0.1:1/forum")
    engines = app.extensions["sqlalchemy"]._app_engines[app]
    alive = engines[None]
    db.session.remove()
    engines[None] = dead
    try:
        resp = client.get("/healthz")
        assert resp.status_code == 503
        assert resp.get_json()["database"] == "error"
        assert resp.get_json()["status"] == "error"
    finally:
        db.session.remove()
        engines[None] = alive
        dead.dispose()

    assert client.get("/healthz").status_code == 200


def test_lag_shows_changes_the_index_has_not_applied(app, client):
    author = factories.user("lagging_lou")
    factories.thread(author, title="First week on aza", body="Hello.")
    assert applier.wait_for_applier(app)  # the index is written in the background
    app.config["SEARCH_SYNC"] = False  # this server's index stops following for a moment
    factories.thread(author, title="Does the rash fade?", body="Week three now.")
    factories.thread(author, title="Aza and sunburn", body="Any tips?")

    index = client.get("/healthz").get_json()["index"]
    assert index["state"] == "behind"
    assert index["lag_changes"] == 2
    assert index["latest_change_id"] - index["applied_change_id"] >= 2
    assert index["lag_seconds"] >= 0

    app.config["SEARCH_SYNC"] = True
    search.apply_now()
    index = client.get("/healthz").get_json()["index"]
    assert (index["state"], index["lag_changes"], index["lag_seconds"]) == ("ok", 0, 0.0)
    assert index["applied_change_id"] == index["latest_change_id"]


def test_missing_index_is_reported_but_pages_still_count_as_up(app, client):
    factories.thread(factories.user("indexed_ida"), title="Hair thinning", body="Month 3.")
    assert applier.wait_for_applier(app)
    assert client.get("/healthz").get_json()["index"]["state"] == "ok"
    (Path(app.config["SEARCH_INDEX_DIR"]) / "CURRENT").unlink()

    resp = client.get("/healthz")

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "degraded"
    assert body["index"]["state"] == "unavailable"
