"""A CSRF token from before sign-in or sign-out is worthless after it (issue 12, item 7).

Someone who planted a session with a token they know (before the person signed in)
could otherwise forge the person's forms afterwards. Signing in and out starts a new
session with a new token; a form still open from before asks to try again (400).
"""

from __future__ import annotations

from flask import session
from flask_login import login_user, logout_user
from flask_wtf.csrf import generate_csrf

from forum.extensions import db
from forum.models import User
from tests import factories as f
from tests.conftest import csrf_from

PASSWORD = "blue kettle morning"


def token(client, path: str) -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def sign_in(client, csrf: str, name: str = "token_tam"):
    data = {"display_name": name, "password": PASSWORD, "csrf_token": csrf}
    return client.post("/login", data=data)


def save_profile(client, csrf: str):
    return client.post("/account/profile", data={"shown_conditions": ["lupus"], "csrf_token": csrf})


def test_a_token_from_before_sign_in_is_refused_after_it(client):
    f.user("token_tam", password=PASSWORD)
    planted = token(client, "/login")
    assert sign_in(client, planted).status_code == 302

    refused = save_profile(client, planted)

    assert refused.status_code == 400
    assert "form expired" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert User.by_name("token_tam").shown_conditions == ""
    assert save_profile(client, token(client, "/account")).status_code == 302
    db.session.expire_all()
    assert User.by_name("token_tam").shown_conditions == "lupus"


def test_a_token_from_before_sign_out_is_refused_after_it(client):
    f.user("token_tam", password=PASSWORD)
    sign_in(client, token(client, "/login"))
    before = token(client, "/account")
    assert client.post("/logout", data={"csrf_token": before}).status_code == 302

    # Signed out, the old token does not even sign someone in.
    assert sign_in(client, before).status_code == 400
    assert client.get("/account").status_code == 302
    assert sign_in(client, token(client, "/login")).status_code == 302


def test_every_way_in_or_out_drops_the_old_token(app):
    """Joining signs people in through login_user as well: the rule lives on Flask-Login's
    signals, not on one view."""
    user = f.user("token_tam", password=PASSWORD)
    for change in (lambda: login_user(user), logout_user):
        with app.test_request_context("/"):
            generate_csrf()
            assert "csrf_token" in session
            change()
            assert "csrf_token" not in session


def test_a_password_change_gives_this_device_a_new_token_too(client):
    f.user("token_tam", password=PASSWORD)
    sign_in(client, token(client, "/login"))
    before = token(client, "/account")
    changed = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "another long phrase",
            "csrf_token": before,
        },
    )
    assert changed.status_code == 302
    assert save_profile(client, before).status_code == 400
    assert save_profile(client, token(client, "/account")).status_code == 302


def test_joining_signs_in_with_a_new_token(client):
    """Creating an account signs the person in: the token from the join form is done."""
    planted = token(client, "/register")
    joined = client.post(
        "/register",
        data={
            "display_name": "new_joiner",
            "email": "new.joiner@example.org",
            "password": PASSWORD,
            "csrf_token": planted,
        },
    )
    assert joined.status_code == 302
    assert client.get("/account").status_code == 200  # signed in by joining
    assert save_profile(client, planted).status_code == 400
    assert save_profile(client, token(client, "/account")).status_code == 302
