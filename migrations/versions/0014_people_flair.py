"""users.show_flair: show conditions and time on azathioprine beside the name

Revision ID: 0014_people_flair
Revises: 0005
Create Date: 2026-12-04 17:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0014_people_flair"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN, not batch mode: SQLite would rebuild "users", and dropping the old
    # table with foreign keys on sets every post's author_id to NULL.
    op.add_column(
        "users", sa.Column("show_flair", sa.Boolean(), nullable=False, server_default=sa.true())
    )


def downgrade():
    # Not batch mode either, for the same reason: the rebuild would drop "users" and every
    # post, thread and vote would lose its member. SQLite 3.35+ drops a plain column in place.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE users DROP COLUMN show_flair")
    else:
        op.drop_column("users", "show_flair")
