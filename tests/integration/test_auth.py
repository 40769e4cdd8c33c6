"""Accounts through the real forms: join, sign in and out, password changes, profiles."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from forum.extensions import db
from forum.models import User
from tests import factories
from tests.conftest import csrf_from


def token(client, path="/login"):
    return csrf_from(client.get(path).get_data(as_text=True))


def register(client, name="river_stone", email="river@example.org", password="blue kettle morning"):
    return client.post(
        "/register",
        data={
            "display_name": name,
            "email": email,
            "password": password,
            "csrf_token": token(client, "/register"),
        },
    )


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


def without_tokens(html: str) -> str:
    return re.sub(r'value="[^"]*"', "", html)


# --- joining -----------------------------------------------------------------------------


def test_register_creates_account_and_signs_in(client, auth):
    response = register(client, name="River Stone", email="River@Example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    user = User.by_name("river stone")
    assert user.display_name == "River Stone"
    assert user.email == "river@example.org"
    assert user.password_hash and "blue kettle" not in user.password_hash
    page = client.get("/").get_data(as_text=True)
    assert "Welcome, River Stone: your account is ready and you are signed in." in page
    auth.logout()
    page = auth.login("River Stone", "blue kettle morning").get_data(as_text=True)
    assert "Welcome back, River Stone" in page


def test_names_in_any_script_with_spaces_work_in_profile_links(client):
    assert register(client, name="  Zoë   Ångström ", email="zoe@example.org").status_code == 302
    user = User.by_name("zoë ångström")
    assert user.display_name == "Zoë Ångström"
    factories.thread(user, title="Hello from Zoë")
    html = client.get("/").get_data(as_text=True)
    link = re.search(r'href="(/u/[^"]+)">Zoë Ångström<', html).group(1)
    assert "Hello from Zoë" in client.get(link).get_data(as_text=True)


def test_taken_email_creates_nothing_and_is_sent_to_sign_in(app):
    """Joining signs a new member in (issue 14), so a taken email cannot get the same
    answer as a fresh one any more: it creates nothing, signs no one in and sends the
    person to sign in, with the neutral wording, after the same hashing work."""
    factories.user("first_owner", email="shared@example.org")
    before = user_count()
    stranger = app.test_client()
    taken = register(stranger, name="nosy_person", email="Shared@example.org")
    assert taken.status_code == 302 and taken.headers["Location"].startswith("/login")
    page = stranger.get(taken.headers["Location"]).get_data(as_text=True)
    assert "If you already have an account with that email, sign in with it" in page
    assert "Sign out" not in page
    assert user_count() == before
    assert User.by_name("nosy_person") is None
    assert db.session.scalar(
        select(User).where(User.email == "shared@example.org")
    ).display_name == ("first_owner")


def test_display_name_taken_regardless_of_case(client):
    factories.user("Sunny_Days")
    before = user_count()
    response = register(client, name="sUNNY_dAYS", email="other@example.org")
    assert response.status_code == 400
    assert "That name is taken" in response.get_data(as_text=True)
    assert user_count() == before


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ab", "Between 3 and 40 characters"),
        ("x" * 41, "Between 3 and 40 characters"),
        ("me@example.org", "Use letters, numbers"),
        ("<script>", "Use letters, numbers"),
        ("Admin", "reserved"),
        ("   ", "Between 3 and 40 characters"),
    ],
)
def test_bad_display_names_are_refused_with_a_reason(client, name, message):
    response = register(client, name=name, email="someone@example.org")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert user_count() == 0


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "At least 8 characters"),
        ("password123", "too common"),
        ("Qwertyuiop", "too common"),
        ("iloveyou1", "too common"),
        ("x" * 129, "At most 128 characters"),
        ("river_stone", "too common or too easy"),  # the display name itself
    ],
)
def test_weak_or_oversized_passwords_are_refused(client, password, message):
    response = register(client, name="river_stone", password=password)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert user_count() == 0


@pytest.mark.parametrize("length", [8, 64, 128])
def test_long_passwords_are_allowed(client, auth, length):
    password = ("correct horse battery staple " * 5)[:length]
    assert register(client, password=password).status_code == 302
    assert "Welcome back" in auth.login("river_stone", password).get_data(as_text=True)


def test_failed_registration_keeps_name_and_email_but_not_password(client):
    response = register(client, name="ok_name", email="keep@example.org", password="123")
    html = response.get_data(as_text=True)
    assert 'value="ok_name"' in html and 'value="keep@example.org"' in html
    assert 'value="123"' not in html


def test_bad_email_is_refused(client):
    response = register(client, email="not-an-email")
    assert response.status_code == 400
    assert "Enter a valid email" in response.get_data(as_text=True)


# --- signing in ---------------------------------------------------------------------------


def test_login_by_display_name_any_case_or_by_email(app):
    factories.user("sunny_days", email="sunny@example.org")
    for identifier in ("sunny_days", "SUNNY_DAYS", "Sunny@Example.org"):
        client = app.test_client()
        html = client.post(
            "/login",
            data={
                "display_name": identifier,
                "password": factories.PASSWORD,
                "csrf_token": token(client),
            },
            follow_redirects=True,
        ).get_data(as_text=True)
        assert "Welcome back, sunny_days" in html, identifier


def test_wrong_password_and_unknown_account_look_the_same(app):
    factories.user("sunny_days")
    answers = []
    for name, password in (("sunny_days", "wrong password here"), ("nobody_here", "whatever123")):
        client = app.test_client()
        response = client.post(
            "/login",
            data={"display_name": name, "password": password, "csrf_token": token(client)},
        )
        answers.append((response.status_code, response.get_data(as_text=True)))
    (status_a, page_a), (status_b, page_b) = answers
    assert status_a == status_b == 400
    assert "did not match an account" in page_a
    # Identical apart from the typed name and the token.
    assert without_tokens(page_a) == without_tokens(page_b)


def test_unknown_account_costs_a_password_hash_check(app, monkeypatch):
    """Timing parity: the unknown-account path verifies a (dummy) hash too."""
    import forum.auth.service as auth_service
    import forum.models as models

    factories.user("sunny_days")
    calls = []

    def counting(real):
        def check(pwhash, password):
            calls.append(pwhash)
            return real(pwhash, password)

        return check

    monkeypatch.setattr(
        auth_service, "check_password_hash", counting(auth_service.check_password_hash)
    )
    monkeypatch.setattr(models, "check_password_hash", counting(models.check_password_hash))
    assert auth_service.authenticate("nobody_here", "some password") is None
    assert auth_service.authenticate("sunny_days", "wrong password") is None
    assert len(calls) == 2
    assert calls[0].split("$")[0] == calls[1].split("$")[0]  # same algorithm and cost


def test_remember_me_sets_a_lasting_cookie_only_when_asked(app):
    factories.user("sunny_days")
    for remember, expected in (("y", True), (None, False)):
        client = app.test_client()
        data = {"display_name": "sunny_days", "password": factories.PASSWORD}
        if remember:
            data["remember"] = remember
        data["csrf_token"] = token(client)
        client.post("/login", data=data)
        assert (client.get_cookie("remember_token") is not None) is expected
        # A new browser session (session cookie gone): only "remember me" keeps you in.
        client.delete_cookie("session")
        assert (client.get("/account").status_code == 200) is expected


def test_login_next_only_goes_to_this_site(client):
    factories.user("sunny_days")
    for target, expected in (
        ("/account", "/account"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
    ):
        response = client.post(
            f"/login?next={target}",
            data={
                "display_name": "sunny_days",
                "password": factories.PASSWORD,
                "csrf_token": token(client),
            },
        )
        assert response.headers["Location"] == expected
        client.post("/logout", data={"csrf_token": token(client)})


def test_suspended_account_cannot_sign_in(auth):
    user = factories.user("sunny_days")
    user.is_suspended = True
    db.session.commit()
    response = auth.login()
    assert "This account is suspended" in response.get_data(as_text=True)
    assert auth.client.get("/account").status_code == 302


def test_login_without_csrf_token_is_a_friendly_400(client):
    factories.user("sunny_days")
    response = client.post(
        "/login", data={"display_name": "sunny_days", "password": factories.PASSWORD}
    )
    assert response.status_code == 400
    assert "Your form expired, please go back and try again" in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302  # not signed in


# --- signing out --------------------------------------------------------------------------


def test_logout_is_post_only_and_ends_the_session(client, auth):
    factories.user("sunny_days")
    auth.login()
    assert client.get("/account").status_code == 200
    assert client.get("/logout").status_code == 405
    assert client.get("/account").status_code == 200
    html = auth.logout().get_data(as_text=True)
    assert "You are signed out" in html
    assert client.get("/account").status_code == 302


def test_logout_ends_every_session_including_copied_cookies(app):
    factories.user("sunny_days")
    here, elsewhere = app.test_client(), app.test_client()
    for c in (here, elsewhere):
        c.post(
            "/login",
            data={
                "display_name": "sunny_days",
                "password": factories.PASSWORD,
                "remember": "y",
                "csrf_token": token(c),
            },
        )
    stolen = here.get_cookie("session").value
    here.post("/logout", data={"csrf_token": token(here, "/")})
    assert elsewhere.get("/account").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/account").status_code == 302


# --- the account page ---------------------------------------------------------------------


def change_password(client, current, new):
    return client.post(
        "/account/password",
        data={
            "current_password": current,
            "new_password": new,
            "csrf_token": token(client, "/account"),
        },
    )


def test_change_password_ends_other_sessions_but_keeps_this_one(app):
    factories.user("sunny_days")
    here, elsewhere = app.test_client(), app.test_client()
    for c in (here, elsewhere):
        c.post(
            "/login",
            data={
                "display_name": "sunny_days",
                "password": factories.PASSWORD,
                "remember": "y",
                "csrf_token": token(c),
            },
        )
        assert c.get("/account").status_code == 200
    response = change_password(here, factories.PASSWORD, "new purple giraffe")
    assert response.status_code == 302
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302
    # Not even the old remember-me cookie brings the other device back.
    elsewhere.delete_cookie("session")
    assert elsewhere.get("/account").status_code == 302
    assert User.by_name("sunny_days").check_password("new purple giraffe")
    assert not User.by_name("sunny_days").check_password(factories.PASSWORD)


def test_change_password_needs_the_current_one_and_a_good_new_one(client, auth):
    factories.user("sunny_days")
    auth.login()
    bad_current = change_password(client, "not my password", "new purple giraffe")
    assert bad_current.status_code == 400
    assert "Not right" in bad_current.get_data(as_text=True)
    common = change_password(client, factories.PASSWORD, "password1")
    assert common.status_code == 400
    assert "too common" in common.get_data(as_text=True)
    assert User.by_name("sunny_days").check_password(factories.PASSWORD)


def test_account_page_needs_sign_in_and_shows_own_email(client, auth):
    assert client.get("/account").headers["Location"].startswith("/login?next=")
    factories.user("sunny_days", email="sunny@example.org")
    auth.login()
    assert "sunny@example.org" in client.get("/account").get_data(as_text=True)


def choose_conditions(client, slugs):
    return client.post(
        "/account/profile",
        data={"shown_conditions": slugs, "csrf_token": token(client, "/account")},
    )


def test_profile_shows_chosen_conditions_and_posts_but_never_the_email(app, client, auth):
    me = factories.user("sunny_days", email="secret-address@example.org")
    other = factories.user("helper")
    factories.thread(me, title="My visible question", conditions=("crohns",))
    gone = factories.thread(me, title="A question I deleted")
    from forum.threads import service

    service.delete_post(me, gone.question)
    factories.thread(other, title="Their question", replies=[(me, "My helpful reply text")])
    auth.login()
    assert choose_conditions(client, ["crohns", "uveitis"]).status_code == 302
    auth.logout()

    html = client.get("/u/SUNNY_DAYS").get_data(as_text=True)
    assert "secret-address" not in html
    assert "Crohn" in html and "Uveitis" in html
    assert "Lupus" not in html.split("Lives with:")[1].split("</ul>")[0]
    assert "My visible question" in html
    assert "A question I deleted" not in html
    replies = client.get("/u/sunny_days?show=replies").get_data(as_text=True)
    assert "My helpful reply text" in replies and "Their question" in replies
    assert "secret-address" not in replies


def test_unknown_condition_choice_is_refused(client, auth):
    factories.user("sunny_days")
    auth.login()
    assert choose_conditions(client, ["not-a-condition"]).status_code == 400
    assert User.by_name("sunny_days").shown_conditions == ""


def test_unknown_profile_is_404(client):
    assert client.get("/u/nobody_at_all").status_code == 404
