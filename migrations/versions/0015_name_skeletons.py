"""users.name_skeleton: what a display name looks like, indexed.

"Jane" and "Jаne" (Cyrillic а) have one skeleton (forum.names.skeleton, after Unicode
UTS #39): registration and import refuse a name whose skeleton an account already has.
Existing accounts get theirs here (older look-alikes stay as they are). Adding a column
and an index needs no table rebuild, on SQLite either.

Revision ID: 0015_name_skeletons
Revises: 0014_people_flair
Create Date: 2026-12-04 18:00:00

"""

import sqlalchemy as sa
from alembic import op

from forum.names import stored_skeleton

# revision identifiers, used by Alembic.
revision = "0015_name_skeletons"
down_revision = "0014_people_flair"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("name_skeleton", sa.String(length=255), nullable=True))
    users = sa.table(
        "users",
        sa.column("id", sa.Integer),
        sa.column("display_name", sa.String),
        sa.column("name_skeleton", sa.String),
    )
    bind = op.get_bind()
    rows = [
        {"uid": uid, "skeleton": stored_skeleton(name)}
        for uid, name in bind.execute(sa.select(users.c.id, users.c.display_name))
    ]
    if rows:
        bind.execute(
            users.update()
            .where(users.c.id == sa.bindparam("uid"))
            .values(name_skeleton=sa.bindparam("skeleton")),
            rows,
        )
    op.create_index(op.f("ix_users_name_skeleton"), "users", ["name_skeleton"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_users_name_skeleton"), table_name="users")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE users DROP COLUMN name_skeleton")  # SQLite 3.35+, no rebuild
    else:
        op.drop_column("users", "name_skeleton")
