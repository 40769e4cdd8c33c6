"""Nobody can pass for the forum's team or for another member by name (issue 12, item 8).

Names are compared on their Unicode UTS #39 skeleton (forum.names): NFKC, confusable
letters as one, case folded, punctuation and spaces dropped. Reserved names and their
look-alikes are refused at registration and in `flask forum import`, and two accounts
may not share a skeleton.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from forum.auth import service
from forum.extensions import db
from forum.models import Thread, User
from forum.names import is_reserved, skeleton
from forum.services import ValidationError
from tests import factories as f
from tests.conftest import csrf_from

IMPERSONATIONS = [
    "Moderator.",
    "Admin_",
    "\u0410dmin",  # Cyrillic capital A
    "ａｄｍｉｎ",  # fullwidth
    "Support Team",
    "A Former Member.",
    "Adm1n",
    "M0derator",
    "Ádmin",
    "AdminJane",
    "Jane Admin",
    "help-desk",
    "The Moderators",
    "ѕуѕtem",  # Cyrillic s, y, s
    "Anonymous",
    "Forum Team",
]
ORDINARY = [
    "Иван Петров",
    "小明同学",
    "Modesty Blaise",
    "Badminton Fan",
    "Steam Trains",
    "Admiral Jo",
    "Rooted Sam",
    "José Núñez",
]


def register(client, name: str, email: str = "name.test@example.org"):
    token = csrf_from(client.get("/register").get_data(as_text=True))
    return client.post(
        "/register",
        data={
            "display_name": name,
            "email": email,
            "password": "blue kettle morning",
            "csrf_token": token,
        },
    )


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


@pytest.mark.parametrize("name", IMPERSONATIONS)
def test_reserved_names_and_their_look_alikes_are_refused(client, name):
    response = register(client, name, email="keep.me@example.org")

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "That name is reserved" in html
    assert 'value="keep.me@example.org"' in html  # typed values kept
    assert f'value="{name}"' in html
    assert user_count() == 0


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_names_in_any_script_are_welcome(client, name):
    assert register(client, name).status_code == 302
    assert User.by_name(name) is not None


@pytest.mark.parametrize(
    ("existing", "look_alike"),
    [
        ("Jane Doe", "J\u0430ne Doe"),  # Cyrillic а
        ("Jane Doe", "JANE_DOE"),
        ("Jane Doe", "Jane-Doe."),
        ("Paul Smith", "PauI Smith"),  # capital i
        ("Paul Smith", "Pau1 Smith"),
        ("Ollie", "0llie"),
        ("Emma", "Ernrna"),  # rn for m
        ("Marta", "Ｍａｒｔａ"),
    ],
)
def test_a_name_that_looks_like_a_members_is_taken(client, existing, look_alike):
    f.user(existing)
    response = register(client, look_alike, email="second@example.org")

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "looks too much like another member" in html
    assert 'value="second@example.org"' in html
    assert user_count() == 1


def test_the_skeleton_is_stored_for_every_way_of_making_accounts(app):
    jane = f.user("Jane Doe")
    assert jane.name_skeleton == skeleton("Jane Doe") == "janedoe"
    assert User.looking_like("J\u0430ne-Doe") == jane


def test_of_two_look_alikes_joining_at_once_the_later_goes_again(client):
    """Both passed the check before either committed: the later one is refused."""
    f.user("Jane Doe")
    late = User(display_name="J\u0430ne Doe", name_key="j\u0430ne doe", email="late@example.org")
    db.session.add(late)
    db.session.commit()
    with pytest.raises(ValidationError, match="taken"):
        service._keep_first_look_alike(late)
    assert [u.display_name for u in db.session.scalars(select(User))] == ["Jane Doe"]


def test_the_look_alike_check_is_one_indexed_lookup(app):
    """Registration stays fast with many members: no scan of every name."""
    assert "ix_users_name_skeleton" in {ix.name for ix in User.__table__.indexes}


def test_reserved_rules_are_case_space_and_script_blind():
    assert all(is_reserved(n) for n in IMPERSONATIONS)
    assert not any(is_reserved(n) for n in ORDINARY)


# --- flask forum import ------------------------------------------------------------------


def thread_line(title: str, author: str, replies=()) -> str:
    return json.dumps(
        {
            "title": title,
            "body": "A question about azathioprine and tiredness.",
            "author": author,
            "created": "2025-03-02T10:15:00Z",
            "conditions": ["Lupus"],
            "replies": [{"author": a, "body": "A reply that helps."} for a in replies],
        }
    )


def test_import_skips_lines_whose_authors_impersonate_with_a_clear_reason(runner, tmp_path):
    f.user("Jane Doe")
    path = tmp_path / "in.jsonl"
    lines = [
        thread_line("Fine question", "hedgerow_kate"),
        thread_line("Team voice", "Moderator."),
        thread_line("Styled admin", "ａｄｍｉｎ"),
        thread_line("Reply by staff", "river_stone", replies=["Support Team"]),
        thread_line("Look-alike of a member", "J\u0430ne Doe"),
        thread_line("New pair one", "Sam Brook"),
        thread_line("New pair two", "Sam-Br00k"),
        thread_line("Former", "A Former Member."),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = runner.invoke(args=["forum", "import", str(path)])

    assert result.exit_code == 1
    err = result.stderr
    assert "line 2: skipped: author 'Moderator.' is a reserved name" in err
    assert "line 3: skipped: author 'ａｄｍｉｎ' is a reserved name" in err
    assert "line 4: skipped: reply 1 author 'Support Team' is a reserved name" in err
    assert "line 5: skipped: author 'J\u0430ne Doe' looks like the name of another member" in err
    assert "line 7: skipped: author 'Sam-Br00k' looks like the name of another member" in err
    assert "line 8: skipped: author 'A Former Member.' is a reserved name" in err
    assert set(db.session.scalars(select(Thread.title))) == {"Fine question", "New pair one"}
    # No account was made for a skipped line (river_stone's line was refused whole).
    names = set(db.session.scalars(select(User.display_name)))
    assert names == {"Jane Doe", "hedgerow_kate", "Sam Brook"}
