"""Migrations own the schema: an old database comes up to date without losing data, and the
migrated schema is exactly what the models describe (on this pass's backend: SQLite, or
PostgreSQL with FORUM_TEST_DATABASE_URL).

If ``test_migrated_schema_matches_models`` fails, a model changed without a migration:
run ``flask db migrate -m "what changed"`` on top of the single head, read the file, commit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from forum import ROOT, create_app
from forum.bootstrap import ensure_schema, migrate
from forum.extensions import db, never_reuses_ids
from forum.models import HelpfulVote, Post, SearchChange, Thread, User

# Tables allowed to lack a migration for a while (none: every model is migrated).
AWAITING_FINAL_MIGRATION: set[str] = set()


@pytest.fixture
def target_url(empty_database_url):
    return empty_database_url


@pytest.fixture
def bare_app(tmp_path, target_url):
    """An app on the target database that leaves the schema alone at start."""
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SQLALCHEMY_DATABASE_URI": target_url,
            "SCHEMA_AUTO_UPGRADE": False,
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test",
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def upgrade_to(revision: str) -> None:
    with db.engine.begin() as conn:
        config = migrate.get_config()
        config.attributes["connection"] = conn
        config.attributes["quiet"] = True
        command.upgrade(config, revision)


POPULATE = [
    (
        "INSERT INTO users (id, display_name, name_key, email, password_hash, role, created_at,"
        " session_version, is_suspended, shown_conditions) VALUES (:id, :name, :key, :email,"
        " 'x', :role, :at, 1, :susp, :shown)",
        [
            {
                "id": 1,
                "name": "Old_Olive",
                "key": "old_olive",
                "email": "olive@example.org",
                "role": "member",
                "at": datetime(2024, 5, 1, 9, 30),
                "susp": False,
                "shown": "lupus",
            },
            {
                "id": 2,
                "name": "Mod_Max",
                "key": "mod_max",
                "email": None,
                "role": "moderator",
                "at": datetime(2024, 5, 2, 10, 0),
                "susp": True,
                "shown": "",
            },
        ],
    ),
    (
        "INSERT INTO threads (id, title, author_id, created_at, last_activity_at, reply_count,"
        " helpful_count, resolved_post_id, is_hidden, is_locked, is_deleted, import_key)"
        " VALUES (10, 'Itchy skin on aza', 1, :at, :at, 1, 1, NULL, :f, :f, :f, 'imp-1')",
        [{"at": datetime(2024, 5, 3, 8, 0), "f": False}],
    ),
    (
        "INSERT INTO posts (id, thread_id, author_id, is_question, body, body_html, created_at,"
        " edited_at, is_deleted, is_hidden, helpful_count) VALUES (:id, 10, :author, :q, :body,"
        " :html, :at, NULL, :f, :f, :helpful)",
        [
            {
                "id": 100,
                "author": 1,
                "q": True,
                "body": "Anyone else itchy?",
                "html": "<p>Anyone else itchy?</p>",
                "at": datetime(2024, 5, 3, 8, 0),
                "f": False,
                "helpful": 0,
            },
            {
                "id": 101,
                "author": 2,
                "q": False,
                "body": "An emollient helped me.",
                "html": "<p>An emollient helped me.</p>",
                "at": datetime(2024, 5, 3, 9, 0),
                "f": False,
                "helpful": 1,
            },
        ],
    ),
    ("UPDATE threads SET resolved_post_id = 101 WHERE id = 10", [{}]),
    (
        "INSERT INTO thread_tags (thread_id, kind, slug) VALUES (10, :kind, :slug)",
        [
            {"kind": "condition", "slug": "lupus"},
            {"kind": "side_effect", "slug": "rash"},
            {"kind": "medication", "slug": "azathioprine"},
        ],
    ),
    (
        "INSERT INTO helpful_votes (id, post_id, user_id, created_at) VALUES (1, 101, 1, :at)",
        [{"at": datetime(2024, 5, 3, 10, 0)}],
    ),
    (
        "INSERT INTO search_changes (id, thread_id, created_at) VALUES (5, 10, :at)",
        [{"at": datetime(2024, 5, 3, 10, 0)}],
    ),
    ("INSERT INTO settings (key, value) VALUES ('demo_loaded', '1')", [{}]),
]


def test_flask_db_upgrade_from_the_first_migration_keeps_data(bare_app, target_url, tmp_path):
    upgrade_to("0001")
    with db.engine.begin() as conn:
        for sql, rows in POPULATE:
            for row in rows:
                conn.execute(text(sql), row)
    db.engine.dispose()

    # The real command, from an unrelated directory: the migrations are found anyway.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    env.update(
        FORUM_SQLALCHEMY_DATABASE_URI=target_url,
        FORUM_INSTANCE_PATH=str(tmp_path / "cli-instance"),
        FORUM_SCHEMA_AUTO_UPGRADE="false",
        FORUM_LOAD_DEMO_ON_FIRST_START="false",
    )
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", str(ROOT / "app.py"), "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    heads = ScriptDirectory.from_config(migrate.get_config()).get_heads()
    assert db.session.scalar(text("SELECT version_num FROM alembic_version")) in heads
    users = db.session.scalars(select(User).order_by(User.id)).all()
    assert [(u.name_key, u.email, u.role, u.is_suspended, u.created_at) for u in users] == [
        ("old_olive", "olive@example.org", "member", False, datetime(2024, 5, 1, 9, 30)),
        ("mod_max", None, "moderator", True, datetime(2024, 5, 2, 10, 0)),
    ]
    thread = db.session.get(Thread, 10)
    assert (thread.title, thread.resolved_post_id, thread.import_key) == (
        "Itchy skin on aza",
        101,
        "imp-1",
    )
    assert [(p.id, p.is_question, p.body, p.author.name_key) for p in thread.posts] == [
        (100, True, "Anyone else itchy?", "old_olive"),
        (101, False, "An emollient helped me.", "mod_max"),
    ]
    assert thread.tag_slugs("condition") == ["lupus"]
    assert thread.tag_slugs("side_effect") == ["rash"]
    assert thread.tag_slugs("medication") == ["azathioprine"]
    vote = db.session.scalars(select(HelpfulVote)).one()
    assert (vote.post_id, vote.user_id) == (101, 1)
    assert db.session.get(SearchChange, 5).thread_id == 10
    tables = set(inspect(db.engine).get_table_names())
    expected = {t.name for t in db.metadata.sorted_tables} - AWAITING_FINAL_MIGRATION
    assert expected <= tables, f"tables no migration creates: {sorted(expected - tables)}"


def test_migrations_have_one_head(bare_app):
    heads = ScriptDirectory.from_config(migrate.get_config()).get_heads()
    assert len(heads) == 1, (
        f"several migration heads {heads}: two migrations revise the same parent; "
        "re-point one at the other (down_revision) or `flask db merge heads`"
    )


def test_migrated_schema_matches_models(bare_app):
    upgrade_to("head")
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = compare_metadata(context, db.metadata)
    problems = [d for d in diff if _table_of(d) not in AWAITING_FINAL_MIGRATION]
    assert problems == [], (
        "models and migrations disagree (a model changed without a migration: "
        f"`flask db migrate -m ...`): {problems}"
    )


def _table_of(entry) -> str | None:
    """The table an alembic diff entry is about."""
    if isinstance(entry, list):  # column modifications come grouped
        entry = entry[0]
    for item in entry[1:]:
        name = getattr(item, "name", None)
        table = getattr(item, "table", None)
        if table is not None and getattr(table, "name", None):
            return table.name
        if hasattr(item, "columns") and name and hasattr(item, "c"):
            return name
    if len(entry) > 2 and isinstance(entry[2], str):
        return entry[2]
    return None


def test_every_migration_downgrades_and_upgrades_again(bare_app):
    upgrade_to("head")
    with db.engine.begin() as conn:
        config = migrate.get_config()
        config.attributes["connection"] = conn
        config.attributes["quiet"] = True
        command.downgrade(config, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade_to("head")
    assert {"users", "threads", "posts", "search_changes"} <= set(
        inspect(db.engine).get_table_names()
    )


def test_a_database_from_before_migrations_is_adopted_and_upgraded(bare_app):
    """The foundation created its tables without Alembic: such a database is the 0001
    schema, stamped so, then upgraded, keeping its rows."""
    upgrade_to("0001")
    with db.engine.begin() as conn:
        for sql, rows in POPULATE[:4]:
            for row in rows:
                conn.execute(text(sql), row)
        conn.execute(text("DROP TABLE alembic_version"))

    ensure_schema()

    heads = ScriptDirectory.from_config(migrate.get_config()).get_heads()
    assert db.session.scalar(text("SELECT version_num FROM alembic_version")) in heads
    assert db.session.get(Thread, 10).title == "Itchy skin on aza"
    assert {t.name for t in db.metadata.sorted_tables} <= set(inspect(db.engine).get_table_names())


# --- ids are never reused (issue 12, item 1) ----------------------------------------------


def _id_tables() -> list[str]:
    return sorted(t.name for t in db.metadata.sorted_tables if never_reuses_ids(t))


def test_migrated_tables_never_hand_out_a_freed_id_again(bare_app):
    """SQLite: every table keyed by one integer says AUTOINCREMENT (reflection cannot see
    it, so a later table rebuild must pass table_kwargs={"sqlite_autoincrement": True});
    PostgreSQL: the key comes from a sequence."""
    upgrade_to("head")
    assert {"users", "threads", "posts", "notifications", "reports"} <= set(_id_tables())
    if db.engine.dialect.name != "sqlite":
        for name in _id_tables():
            (column,) = [c for c in inspect(db.engine).get_columns(name) if c["name"] == "id"]
            assert "nextval" in str(column.get("default")) or column.get("identity"), name
        return
    ddl = dict(db.session.execute(text("SELECT name, sql FROM sqlite_master")).all())
    missing = [name for name in _id_tables() if "AUTOINCREMENT" not in ddl[name].upper()]
    assert missing == [], f"tables that would reuse freed ids: {missing}"


def test_an_old_sqlite_database_is_rebuilt_keeping_rows_and_references(bare_app):
    """A database from before revision 0005 (tables without AUTOINCREMENT) keeps every
    row and foreign key through the rebuild, and stops reusing ids."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL sequences never reused ids")
    upgrade_to("0004")
    with db.engine.begin() as conn:  # make it look like a database made before 0005
        conn.exec_driver_sql("PRAGMA writable_schema=ON")
        conn.exec_driver_sql(
            "UPDATE sqlite_master SET sql = replace(sql, ' AUTOINCREMENT', '') WHERE type='table'"
        )
        conn.exec_driver_sql("PRAGMA writable_schema=OFF")
    db.engine.dispose()
    with db.engine.begin() as conn:
        assert (
            "AUTOINCREMENT"
            not in conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'users'"
            ).scalar()
        )
        for sql, rows in POPULATE:
            for row in rows:
                conn.execute(text(sql), row)
    db.engine.dispose()

    upgrade_to("head")

    db.engine.dispose()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    users = db.session.scalars(select(User).order_by(User.id)).all()
    assert [u.name_key for u in users] == ["old_olive", "mod_max"]
    assert all(u.login_secret for u in users) and users[0].login_secret != users[1].login_secret
    thread = db.session.get(Thread, 10)
    assert (thread.author.name_key, thread.resolved_post_id) == ("old_olive", 101)
    assert [p.id for p in thread.posts] == [100, 101]
    fks = inspect(db.engine).get_foreign_keys("threads")
    assert {(fk["referred_table"], fk["options"].get("ondelete")) for fk in fks} >= {
        ("users", "SET NULL"),
        ("posts", "SET NULL"),
    }
    # The freed highest id is not handed out again, and ON DELETE still acts.
    db.session.delete(db.session.get(User, 2))
    db.session.commit()
    newcomer = User(display_name="New_Nia", name_key="new_nia", email="nia@example.org")
    db.session.add(newcomer)
    db.session.commit()
    assert newcomer.id == 3
    assert db.session.get(Post, 101).author_id is None


def _downgrade_to(revision: str) -> None:
    with db.engine.begin() as conn:
        config = migrate.get_config()
        config.attributes["connection"] = conn
        config.attributes["quiet"] = True
        command.downgrade(config, revision)


def _authors_and_votes() -> list:
    with db.engine.connect() as conn:
        posts = conn.execute(text("SELECT id, author_id FROM posts ORDER BY id")).all()
        threads = conn.execute(text("SELECT id, author_id, resolved_post_id FROM threads")).all()
        votes = conn.execute(text("SELECT post_id, user_id FROM helpful_votes")).all()
        users = conn.execute(text("SELECT id, name_key FROM users ORDER BY id")).all()
    return [list(posts), list(threads), list(votes), list(users)]


def test_flair_migration_downgrades_and_upgrades_keeping_authors(bare_app):
    """Revision 0014 (users.show_flair) down and up again keeps every member and every
    post's author: on SQLite a rebuild of "users" with foreign keys on would drop the old
    table and set each post's author_id to NULL (or delete votes by cascade)."""
    upgrade_to("0004")
    with db.engine.begin() as conn:
        for sql, rows in POPULATE:
            for row in rows:
                conn.execute(text(sql), row)
    db.engine.dispose()
    upgrade_to("head")
    before = _authors_and_votes()
    assert before[0] == [(100, 1), (101, 2)]

    _downgrade_to("0005")
    db.engine.dispose()
    columns = {c["name"] for c in inspect(db.engine).get_columns("users")}
    assert "show_flair" not in columns
    assert _authors_and_votes() == before

    upgrade_to("head")
    db.engine.dispose()
    assert _authors_and_votes() == before
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT show_flair FROM users ORDER BY id")).scalars().all() == [
            True,
            True,
        ]
        if db.engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert (
                "AUTOINCREMENT"
                in conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'users'")
                .scalar()
                .upper()
            )
