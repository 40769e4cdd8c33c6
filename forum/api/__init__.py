"""/api/v1: read-only JSON (views.py), its OpenAPI document (openapi.py) and, for every
answer under /api/v1, weak ETags with If-None-Match -> 304 so clients can poll cheaply."""

from flask import Blueprint, request

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.after_app_request
def _conditional(resp):
    """A weak ETag over the body of every 200 JSON answer under /api/v1 (search and stats
    live in other blueprints), and 304 when the client already holds it. The body is the
    same for every reader, and ``Vary: Cookie`` plus ``no-cache`` keep shared caches from
    serving one person's answer to another without asking."""
    if (
        request.method in ("GET", "HEAD")
        and request.path.startswith("/api/v1/")
        and resp.status_code == 200
        and resp.mimetype == "application/json"
        and not resp.direct_passthrough
    ):
        resp.add_etag(weak=True)
        resp.headers.setdefault("Cache-Control", "no-cache")
        resp.vary.add("Cookie")
        return resp.make_conditional(request)
    return resp


from . import views  # noqa: E402,F401
