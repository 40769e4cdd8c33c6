"""Sign-in limits that stop guessing without locking the owner out (OWASP's guidance).

Failed attempts count per address (spraying many accounts) and per account from one
address (guessing one); successes do not count; a browser that signed in to the account
before is trusted and counted on its own. Counts live in the default SQLite store.
"""

from __future__ import annotations

import pytest

from forum import create_app
from forum.extensions import db
from forum.models import User
from tests import factories
from tests.conftest import csrf_from

GOOD = factories.PASSWORD


@pytest.fixture
def app(tmp_path, database_url):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test",
            "RATELIMIT_ENABLED": True,
            "NEW_ACCOUNT_LIMITS": False,
            **({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else {}),
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _attempt(client, address: str, name: str, password: str) -> int:
    env = {"REMOTE_ADDR": address}
    token = csrf_from(client.get("/login", environ_base=env).get_data(as_text=True))
    form = {"display_name": name, "password": password, "csrf_token": token}
    return client.post("/login", data=form, environ_base=env).status_code


def test_fifty_wrong_tries_from_one_address_do_not_stop_the_owner_elsewhere(app):
    factories.user("victim_vera")
    db.session.commit()
    attacker = app.test_client()
    tries = [_attempt(attacker, "203.0.113.66", "victim_vera", f"guess {n}") for n in range(50)]
    assert tries[:5] == [400] * 5 and set(tries[5:]) == {429}  # 5 guesses, then stopped
    owner = app.test_client()
    assert _attempt(owner, "198.51.100.7", "victim_vera", GOOD) == 302


def test_the_owner_signs_in_from_the_attackers_address_on_a_browser_used_before(app):
    """A shared network: the attacker's address is blocked for the account, but the owner's
    browser, trusted since an earlier sign-in, is not."""
    factories.user("victim_vic")
    db.session.commit()
    owner, attacker = app.test_client(), app.test_client()
    shared = "192.0.2.10"
    assert _attempt(owner, shared, "victim_vic", GOOD) == 302
    owner.post("/logout", data={"csrf_token": csrf_from(owner.get("/").get_data(as_text=True))})
    tries = [_attempt(attacker, shared, "victim_vic", f"guess {n}") for n in range(30)]
    assert tries[-1] == 429
    assert [_attempt(owner, shared, "victim_vic", GOOD) for _ in range(8)] == [302] * 8
    # A new browser on that address is still refused: it could be the attacker.
    assert _attempt(app.test_client(), shared, "victim_vic", GOOD) == 429


def test_spraying_many_accounts_from_one_address_is_stopped(app):
    hashed = factories.user("sprayed_0").password_hash  # hashing 30 times is slow
    for n in range(1, 30):
        db.session.add(User(display_name=f"sprayed_{n}", name_key=f"sprayed_{n}",
                            email=f"sprayed{n}@example.org", password_hash=hashed))  # fmt: skip
    db.session.commit()
    sprayer = app.test_client()
    tries = [_attempt(sprayer, "203.0.113.99", f"sprayed_{n}", "Winter2026!") for n in range(30)]
    assert tries[:10] == [400] * 10 and set(tries[10:]) == {429}
    # Another address is not affected.
    assert _attempt(app.test_client(), "198.51.100.8", "sprayed_3", GOOD) == 302


def test_successful_sign_ins_do_not_count(app):
    factories.user("regular_rita")
    db.session.commit()
    client = app.test_client()
    # More successes than the 10 failures an address may have.
    assert [_attempt(client, "198.51.100.9", "regular_rita", GOOD) for _ in range(11)] == (
        [302] * 11
    )
    # ...and this now trusted browser's failures count on its own allowance of 10.
    wrong = [_attempt(client, "198.51.100.9", "regular_rita", "nope nope") for _ in range(11)]
    assert wrong == [400] * 10 + [429]
