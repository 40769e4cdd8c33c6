"""A cookie, a session or an emailed link names one account, never "whoever has id N".

Issue 12, item 1: a deleted account's cookies signed into the next new account, because
SQLite handed the freed id out again and the cookies carried only "id:version". Now ids
are never reused (AUTOINCREMENT; PostgreSQL sequences) and the cookies carry a random
per-account secret as well, so even an id that came back (a restore, a hand-made row)
opens nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from forum.extensions import db
from forum.models import Thread, User
from forum.notifications import mailer
from forum.notifications.models import EmailPreference
from tests import factories as f
from tests.conftest import csrf_from

PASSWORD = "blue kettle morning"


def token(client, path: str) -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def register(client, name: str, email: str):
    response = client.post(
        "/register",
        data={
            "display_name": name,
            "email": email,
            "password": PASSWORD,
            "csrf_token": token(client, "/register"),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def sign_in(client, name: str, remember: bool = False):
    data = {"display_name": name, "password": PASSWORD, "csrf_token": token(client, "/login")}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def delete_account(client):
    response = client.post(
        "/account/delete",
        data={
            "csrf_token": token(client, "/account/delete"),
            "mode": "erase",
            "password": PASSWORD,
            "confirm": "yes",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()


def remember_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_")]
    assert cookies, "no remember-me cookie was set"
    return cookies[0].split(";")[0].split("=", 1)[1]


def assert_signed_out(client, *secrets_of_others: str) -> None:
    """/account and /account/data send this client to sign in and show nobody's data."""
    for path in ("/account", "/account/data"):
        response = client.get(path)
        assert response.status_code == 302, (path, response.status_code)
        assert "/login" in response.headers["Location"]
        text = response.get_data(as_text=True)
        for secret in secrets_of_others:
            assert secret not in text


def test_a_deleted_accounts_devices_never_open_the_next_new_account(app):
    """The reported takeover, through the real forms: Z on two devices deletes the
    account; Y joins; Z's second device must not be Y."""
    laptop, phone = app.test_client(), app.test_client()
    register(laptop, "Zed Leaving", "zed.leaving@example.org")
    sign_in(laptop, "Zed Leaving")
    remembered = remember_cookie(sign_in(phone, "Zed Leaving", remember=True))
    assert "zed.leaving@example.org" in phone.get("/account").get_data(as_text=True)
    zed_id = User.by_name("Zed Leaving").id

    delete_account(laptop)
    register(app.test_client(), "Yara Newcomer", "yara.new@example.org")
    yara = User.by_name("Yara Newcomer")

    assert yara.id != zed_id  # SQLite used to hand Zed's id straight to Yara
    assert_signed_out(phone, "yara.new@example.org", "Yara Newcomer")
    only_remembered = app.test_client()
    only_remembered.set_cookie("remember_token", remembered)
    assert_signed_out(only_remembered, "yara.new@example.org", "Yara Newcomer")


def _account_with_id(user_id: int, name: str, email: str) -> User:
    """A different account that got an old id back (a restore, a row made by hand)."""
    user = User(id=user_id, display_name=name, name_key=name.lower(), email=email)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


def test_cookies_name_one_account_even_if_its_id_came_back(app):
    """The second lock: the login secret. A session and a remember-me cookie of a deleted
    account stay dead even when another account gets exactly the same id."""
    f.user("zoe_gone", password=PASSWORD)
    device = app.test_client()
    remembered = remember_cookie(sign_in(device, "zoe_gone", remember=True))
    old_id = User.by_name("zoe_gone").id
    delete_account(device)

    _account_with_id(old_id, "yusuf_here", "yusuf.here@example.org")

    stolen_session = app.test_client()
    sign_in(stolen_session, "yusuf_here")  # a real session of the new account works
    assert "yusuf.here@example.org" in stolen_session.get("/account").get_data(as_text=True)
    assert_signed_out(device, "yusuf.here@example.org")
    only_remembered = app.test_client()
    only_remembered.set_cookie("remember_token", remembered)
    assert_signed_out(only_remembered, "yusuf.here@example.org")


def test_unsubscribe_link_of_a_deleted_account_does_nothing_to_the_next_one(client, app):
    zoe = f.user("zoe_mailer", email="zoe.mailer@example.org")
    link = mailer.unsubscribe_token(zoe)
    old_id = zoe.id
    db.session.delete(zoe)
    db.session.commit()
    yusuf = _account_with_id(old_id, "yusuf_mailer", "yusuf.mailer@example.org")
    db.session.add(EmailPreference(user_id=yusuf.id, mode="digest"))
    db.session.commit()

    assert client.get(f"/notifications/unsubscribe/{link}").status_code == 404
    assert client.post(f"/notifications/unsubscribe/{link}").status_code == 404
    db.session.expire_all()
    assert db.session.get(EmailPreference, yusuf.id).mode == "digest"
    # Yusuf's own link works, and keeps working after a password change.
    own = mailer.unsubscribe_token(yusuf)
    yusuf.end_sessions()
    db.session.commit()
    assert client.post(f"/notifications/unsubscribe/{own}").status_code == 200
    db.session.expire_all()
    assert db.session.get(EmailPreference, yusuf.id).mode == "none"


def test_old_bare_id_unsubscribe_links_are_refused(client):
    """Links signed before this fix carried only the id: they could name a reused id."""
    user = f.user("bare_id_bo")
    legacy = mailer._serializer().dumps({"u": user.id})
    assert client.get(f"/notifications/unsubscribe/{legacy}").status_code == 404


def test_password_change_replaces_the_login_secret_and_ends_other_devices(app):
    f.user("secret_sal", password=PASSWORD)
    here, there = app.test_client(), app.test_client()
    sign_in(here, "secret_sal")
    remembered = remember_cookie(sign_in(there, "secret_sal", remember=True))
    before = User.by_name("secret_sal").login_secret
    response = here.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a different long phrase",
            "csrf_token": token(here, "/account"),
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert User.by_name("secret_sal").login_secret != before
    assert here.get("/account").status_code == 200  # this device stays signed in
    assert_signed_out(there)
    only_remembered = app.test_client()
    only_remembered.set_cookie("remember_token", remembered)
    assert_signed_out(only_remembered)


def test_every_account_gets_its_own_login_secret(app):
    a, b = f.user("secret_one"), f.user("secret_two")
    assert len(a.login_secret) >= 40 and a.login_secret != b.login_secret
    assert a.get_id() == f"{a.id}:{a.login_secret}"


def test_ids_of_erased_threads_and_accounts_are_not_handed_out_again(app):
    """Links and notifications name threads and posts by id: an erased thread's id must
    not come back as someone else's thread."""
    leaving = f.user("leaving_lee", password=PASSWORD)
    gone = f.thread(leaving, title="Soon to be erased")
    gone_thread, gone_post, gone_user = gone.id, gone.posts[0].id, leaving.id
    client = app.test_client()
    sign_in(client, "leaving_lee")
    delete_account(client)
    assert db.session.get(Thread, gone_thread) is None

    newer = f.thread(f.user("staying_sue"), title="A newer question")
    assert newer.id > gone_thread and newer.posts[0].id > gone_post
    assert newer.author_id > gone_user
    assert db.session.scalar(select(User.id).where(User.id == gone_user)) is None
