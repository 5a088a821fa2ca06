"""File versions: a key keeps every version of its content.

Adds ``file.version`` (a label, "1", "2", ... per key), ``file.is_latest`` and ``file.stem_id``
(the id of a key's first version, shared by all its versions). The unique constraint on
(storage_id, key) becomes a partial unique index over latest versions only, and (stem_id, version)
is unique. Existing Files become version "1" of their key, latest, their own stem; their data
stays where it is (the path at a key holds its latest version).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("file") as batch:
        batch.add_column(sa.Column("version", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("is_latest", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("stem_id", sa.String(length=20), nullable=True))
        batch.drop_constraint("uq_file_storage_key", type_="unique")
    op.execute("UPDATE file SET version = '1', stem_id = id")
    op.create_index("ix_file_stem_id", "file", ["stem_id"], unique=False)
    op.create_index("uq_file_stem_version", "file", ["stem_id", "version"], unique=True)
    op.create_index(
        "uq_file_storage_key_latest",
        "file",
        ["storage_id", "key"],
        unique=True,
        sqlite_where=sa.text("is_latest"),
        postgresql_where=sa.text("is_latest"),
    )


def downgrade() -> None:
    op.drop_index("uq_file_storage_key_latest", table_name="file")
    op.drop_index("uq_file_stem_version", table_name="file")
    op.drop_index("ix_file_stem_id", table_name="file")
    op.execute("DELETE FROM file WHERE NOT is_latest")
    with op.batch_alter_table("file") as batch:
        batch.create_unique_constraint("uq_file_storage_key", ["storage_id", "key"])
        batch.drop_column("stem_id")
        batch.drop_column("is_latest")
        batch.drop_column("version")
