"""threads: an index in the "most helpful" tab's order (helpful_count, last_activity_at, id)

Without it every helpful-tab page sorted all matching threads (at 100,000 threads, the
whole table) to show 20. Creating an index rebuilds no table, on SQLite either.

Revision ID: 0016_threads_helpful_index
Revises: 0015_name_skeletons
Create Date: 2026-12-05 06:30:00

"""

from alembic import op

revision = "0016_threads_helpful_index"
down_revision = "0015_name_skeletons"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_threads_helpful_activity",
        "threads",
        ["helpful_count", "last_activity_at", "id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_threads_helpful_activity", table_name="threads")
