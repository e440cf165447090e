"""Full-text search on PostgreSQL: a GIN index over the items' pre-segmented tokens.

SQLite searches through the FTS5 table of 0004. On PostgreSQL the stored jieba tokens are
already split by spaces, so the 'simple' configuration (no stemming, no stop words) indexes
each Chinese word as one lexeme; the query side parses its terms the same way.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The search query must repeat this expression exactly for the planner to use the index.
TSV = "to_tsvector('simple', tokens)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_items_tokens_tsv ON items USING gin ({TSV})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_items_tokens_tsv")
