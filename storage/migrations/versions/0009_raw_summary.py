"""Items keep the feed's own text beside the cleaned one.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:  # plain ALTER TABLE: batch mode would drop the FTS triggers on SQLite
    op.add_column("items", sa.Column("raw_summary", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "raw_summary")
