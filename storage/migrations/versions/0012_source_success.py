"""A source remembers its last successful fetch beside its last attempt.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:  # plain ALTER TABLE, as 0009
    op.add_column("sources", sa.Column("last_success_at", sa.DateTime(), nullable=True))
    # What we know: a source whose last attempt left no error succeeded then.
    op.execute(
        "UPDATE sources SET last_success_at = last_fetched_at "
        "WHERE error_count = 0 AND last_fetched_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("sources", "last_success_at")
