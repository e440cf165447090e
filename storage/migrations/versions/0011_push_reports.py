"""An approved push remembers its digest and when its admin was told how it went.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:  # plain ALTER TABLE, as 0009
    op.add_column("push_requests", sa.Column("digest_id", sa.Integer(), nullable=True))
    op.add_column("push_requests", sa.Column("reported_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("push_requests", "reported_at")
    op.drop_column("push_requests", "digest_id")
