"""Storage ownership in the registry: whether this registry owns a storage root or only reads it.

Adds the column ``storage.owned`` (boolean, true for every existing row). A bucket that a File
is registered in place from, by URL (``ln.File("s3://other-bucket/x.csv")``), becomes a Storage
with ``owned = false``: no owner marker is written into it (the bucket is someone else's, often
read-only for us), and lamin_flows never deletes, overwrites or writes objects there, nor save
journals. Attaching the root as a storage on purpose (``ln.settings.storage = ...``) claims it
(the marker is written) and sets ``owned`` to true.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: a batch (table copy) would drop "storage", which the Files' foreign keys refuse
    op.add_column("storage", sa.Column("owned", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE storage DROP COLUMN owned")  # SQLite 3.35+, without copying the table
    else:
        op.drop_column("storage", "owned")
