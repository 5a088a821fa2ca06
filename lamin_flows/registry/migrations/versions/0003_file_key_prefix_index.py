"""An index for key-prefix queries on PostgreSQL (``File.select(key__startswith=...)``).

PostgreSQL uses a btree index for ``LIKE 'prefix%'`` only when the index compares bytes: with the
"C" collation, or with the ``varchar_pattern_ops`` operator class. Databases usually have another
collation (en_US.UTF-8, C.UTF-8), so the plain ``ix_file_key`` index of the baseline did not serve
prefix queries and they scanned the whole table (22 ms at 100,000 Files, 12 ms with this index,
and the gap grows with the table). SQLite needs nothing: with ``case_sensitive_like`` on, its
``ix_file_key`` serves prefix queries already. ``ix_file_key`` stays for equality and ordering.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_file_key_pattern", "file", ["key"], postgresql_ops={"key": "varchar_pattern_ops"}
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_file_key_pattern", table_name="file")
