"""A company tag carries its item's story and relevance: a card counts stories from the index.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:  # plain ALTER TABLE, as 0009
    op.add_column("item_companies", sa.Column("story_id", sa.Integer(), nullable=True))
    op.add_column("item_companies", sa.Column("relevant", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE item_companies SET "
        "story_id = (SELECT items.story_id FROM items WHERE items.id = item_companies.item_id), "
        "relevant = (SELECT items.relevant FROM items WHERE items.id = item_companies.item_id)"
    )
    op.create_index(
        "ix_item_companies_stories",
        "item_companies",
        ["company_id", "relevant", "published_at", "story_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_item_companies_stories", table_name="item_companies")
    op.drop_column("item_companies", "relevant")
    op.drop_column("item_companies", "story_id")
