"""Content-aware caching: what a cached call reuses, and a stat cache of verified files.

Adds to ``run``: ``reused_id`` (the Run a "cached" Run reused), ``cache_key`` (a hash of the
call's source and parameters, indexed with ``transform_id`` for the lookup) and ``cache`` (JSON:
the return value, parameters, inputs and outputs a ``cache=True`` call recorded). Adds the table
``file_stat``: the size and modification time (ns) a local File's data had when its content was
last checked against the File's hash, so an unchanged file is not hashed again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("reused_id", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("cache_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("cache", sa.JSON(), nullable=True))
        batch.create_foreign_key("fk_run_reused_id_run", "run", ["reused_id"], ["id"], ondelete="SET NULL")
    op.create_index("ix_run_reused_id", "run", ["reused_id"], unique=False)
    op.create_index("ix_run_transform_cache_key", "run", ["transform_id", "cache_key"], unique=False)
    op.create_table(
        "file_stat",
        sa.Column("file_id", sa.String(length=20), sa.ForeignKey("file.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("file_stat")
    op.drop_index("ix_run_transform_cache_key", table_name="run")
    op.drop_index("ix_run_reused_id", table_name="run")
    with op.batch_alter_table("run") as batch:
        batch.drop_constraint("fk_run_reused_id_run", type_="foreignkey")
        batch.drop_column("cache")
        batch.drop_column("cache_key")
        batch.drop_column("reused_id")
