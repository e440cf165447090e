"""Follows and alerts; a full-text index over the items' segmented tokens.

On SQLite the index is an FTS5 table kept in step with ``items`` by triggers; it indexes the
jieba tokens stored at ingest (a space between words), so Chinese words are whole terms.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_FTS = [
    "CREATE VIRTUAL TABLE items_fts USING fts5(tokens, content='items', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN "
    "INSERT INTO items_fts(rowid, tokens) VALUES (new.id, new.tokens); END",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens); END",
    "CREATE TRIGGER items_fts_update AFTER UPDATE OF tokens ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens); "
    "INSERT INTO items_fts(rowid, tokens) VALUES (new.id, new.tokens); END",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("chat_pk", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("last_item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["chat_pk"], ["chats.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chat_pk", "company_id"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_pk", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["chat_pk"], ["chats.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_chat_sent", ["chat_pk", "sent_at"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for statement in _FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("items_fts_insert", "items_fts_delete", "items_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS items_fts")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_chat_sent")
    op.drop_table("alerts")
    op.drop_table("follows")
