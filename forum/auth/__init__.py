from flask import Blueprint, current_app, g, session
from flask_login import user_logged_in, user_logged_out

from ..extensions import db, login_manager
from ..models import User

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Sessions and remember-me cookies carry "id:login_secret" (``User.get_id``).

    The secret must match the account's current one: a cookie from before a password
    change, a sign-out everywhere or a suspension is dead, and so is one of a deleted
    account, even if its id ever came back. Anything else (the old "id:version" form
    included) is refused.
    """
    user_id, _, secret = (session_id or "").partition(":")
    if not (user_id.isascii() and user_id.isdigit() and len(user_id) <= 18 and secret):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.is_suspended or not user.has_login_secret(secret):
        return None
    return user


def _fresh_request_globals() -> None:
    """Forget per-request caches that Flask-Login and Flask-WTF keep on ``g``.

    ``g`` lives on the app context. In production every request has its own, but the
    test suite keeps one app context open around many requests from several clients;
    without this, the signed-in user and the CSRF token of one client's request would
    leak into the next request of another. A no-op in production.
    """
    g.pop("_login_user", None)
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def forget_csrf_token() -> None:
    """Drop the session's CSRF token: the next form gets a new one, and every token
    handed out before (one planted before sign-in included) is refused with a 400."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)


@user_logged_in.connect
def _new_csrf_token_on_sign_in(_app, **_extra) -> None:
    # Every way in (the sign-in form, joining, a password change re-signing this device)
    # goes through login_user: no token from before it stays valid.
    forget_csrf_token()


@user_logged_out.connect
def _new_csrf_token_on_sign_out(_app, **_extra) -> None:
    forget_csrf_token()


@bp.record_once
def _register_first(state) -> None:
    # Run before every other before_request hook (CSRF protection, the page cache...).
    state.app.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_globals)


from . import views  # noqa: E402,F401
