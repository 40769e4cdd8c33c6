"""Ids are never reused, and sign-in cookies carry a random per-account secret.

SQLite hands the highest *freed* id to the next row unless the table says AUTOINCREMENT:
a deleted account's id went to the next new account, and the old account's cookies
signed into it. On a database made before this revision, every table with one integer
key is rebuilt with AUTOINCREMENT (SQLite cannot add it in place); rows, indexes and
foreign keys are kept. (0001-0004 now create those tables with AUTOINCREMENT, so a new
database has nothing to rebuild but ``users``.) PostgreSQL's sequences never reuse ids,
so there only ``users.login_secret`` is added.

A later migration that rebuilds one of these tables on SQLite (``batch_alter_table``
with a change SQLite cannot make in place) must pass
``table_kwargs={"sqlite_autoincrement": True}``: reflection does not see AUTOINCREMENT.
tests/integration/test_migrations.py checks it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:30:00

"""

import secrets
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if "login_secret" not in {c["name"] for c in sa.inspect(bind).get_columns("users")}:
        op.add_column("users", sa.Column("login_secret", sa.String(length=64), nullable=True))
    _fill_login_secrets(bind)
    if bind.dialect.name != "sqlite":
        op.alter_column("users", "login_secret", existing_type=sa.String(64), nullable=False)
        return
    with _foreign_keys_off(bind):
        for table in sorted({"users", *_tables_reusing_ids(bind)}):
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ) as batch_op:
                if table == "users":
                    batch_op.alter_column(
                        "login_secret", existing_type=sa.String(64), nullable=False
                    )


def downgrade():
    # AUTOINCREMENT stays: it is harmless to the older code, and rebuilding every table
    # again would only bring back the reuse of ids.
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_column("users", "login_secret")
        return
    with (
        _foreign_keys_off(bind),
        op.batch_alter_table(
            "users", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ) as batch_op,
    ):
        batch_op.drop_column("login_secret")


def _fill_login_secrets(bind) -> None:
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("login_secret", sa.String))
    ids = bind.execute(sa.select(users.c.id).where(users.c.login_secret.is_(None))).scalars()
    rows = [{"uid": uid, "secret": secrets.token_urlsafe(32)} for uid in ids]
    if rows:
        bind.execute(
            users.update()
            .where(users.c.id == sa.bindparam("uid"))
            .values(login_secret=sa.bindparam("secret")),
            rows,
        )


def _tables_reusing_ids(bind) -> list[str]:
    """SQLite tables keyed by one INTEGER column and created without AUTOINCREMENT."""
    found = []
    for name, sql in bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name != 'alembic_version' ORDER BY name"
    ):
        key = sa.inspect(bind).get_pk_constraint(name)["constrained_columns"]
        if len(key) != 1 or "AUTOINCREMENT" in (sql or "").upper():
            continue
        column = next(c for c in sa.inspect(bind).get_columns(name) if c["name"] == key[0])
        foreign = any(
            key[0] in fk["constrained_columns"] for fk in sa.inspect(bind).get_foreign_keys(name)
        )
        if isinstance(column["type"], sa.Integer) and not foreign:
            found.append(name)
    return found


@contextmanager
def _foreign_keys_off(bind):
    """Rebuilding a table drops the old one, and with foreign keys on, SQLite's DROP TABLE
    first deletes every row, running ON DELETE CASCADE / SET NULL on the tables that
    point at it. So: foreign keys off (only possible outside a transaction), rebuild,
    check every reference still holds, commit, foreign keys on again."""
    raw = bind.connection.dbapi_connection
    if raw.in_transaction:
        raw.commit()
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"rebuilding tables broke foreign keys: {broken[:5]}")
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.execute("PRAGMA foreign_keys=ON")
