"""Staying in touch: notifications, following, email (optional) and drafts.

``init_app`` registers the blueprint, connects the signal receivers, adds the
template helpers (unread count, follow buttons, drafts) and the mail defaults.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, request
from flask_login import current_user

bp = Blueprint("notifications", __name__)

log = logging.getLogger(__name__)

# Endpoints of the thread page: viewing one catches up its follow and notifications.
THREAD_ENDPOINTS = ("threads.show",)
# Form endpoints whose Preview button also saves a draft.
DRAFT_ENDPOINTS = {"threads.ask": "ask", "threads.reply": "reply"}


def init_app(app: Flask) -> None:
    from . import commands, mailer, models, receivers  # noqa: F401  (models: the tables)

    for key, value in mailer.DEFAULTS.items():
        app.config.setdefault(key, value)
    app.register_blueprint(bp)
    receivers.connect(app)
    _template_helpers(app)
    app.before_request(_thread_seen)
    app.before_request(_draft_on_preview)


def _template_helpers(app: Flask) -> None:
    from . import drafts, service

    @app.context_processor
    def _unread():
        if current_user and current_user.is_authenticated:
            return {"unread_notifications": service.unread_count(current_user)}
        return {"unread_notifications": None}

    def follow_state(kind: str, key) -> bool:
        return service.is_following(current_user, kind, str(key))

    def draft_for(kind: str, thread_id: int | None = None):
        return drafts.get_draft(current_user, kind, thread_id)

    app.jinja_env.globals.update(is_following=follow_state, draft_for=draft_for)


def _thread_seen():
    """A signed-in member opens a thread page: mark it seen for /following and its
    notifications read before the page (and its header count) is rendered. A missing
    or hidden thread changes nothing."""
    if (
        request.method == "GET"
        and request.endpoint in THREAD_ENDPOINTS
        and current_user
        and current_user.is_authenticated
    ):
        thread_id = (request.view_args or {}).get("thread_id")
        if isinstance(thread_id, int):
            from . import service

            try:
                service.mark_thread_seen(current_user, thread_id)
            except Exception:  # never break the page for a bookkeeping write
                log.exception("could not mark thread %s seen", thread_id)
    return None


def _draft_on_preview():
    """Previewing a question or reply also saves it as a draft (CSRF is checked first)."""
    if (
        request.method != "POST"
        or request.endpoint not in DRAFT_ENDPOINTS
        or not request.form.get("preview")
        or not (current_user and current_user.is_authenticated)
    ):
        return None
    from . import drafts

    thread_id = (request.view_args or {}).get("thread_id")
    try:
        drafts.save_draft(
            current_user,
            DRAFT_ENDPOINTS[request.endpoint],
            thread_id,
            title=request.form.get("title", ""),
            body=request.form.get("body", ""),
            conditions=request.form.getlist("conditions"),
            side_effects=request.form.getlist("side_effects"),
            medications=request.form.getlist("medications"),
        )
    except Exception:  # the preview itself must still work
        log.exception("could not save the draft on preview")
    return None


from . import views  # noqa: E402,F401
