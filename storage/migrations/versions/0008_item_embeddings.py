"""Items carry a multilingual embedding and an event signature (stories across languages).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: recreating the table on SQLite would drop the triggers
# that keep the full-text index (0004) in step.
def upgrade() -> None:
    op.add_column("items", sa.Column("embedding", sa.LargeBinary(), nullable=True))
    op.add_column("items", sa.Column("event", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "event")
    op.drop_column("items", "embedding")
