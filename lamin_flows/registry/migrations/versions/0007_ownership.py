"""Instance ownership: which lamin_flows instance(s) a registry database belongs to.

Adds the table ``lamin_instance`` (id, name, created_at): one row per instance that uses this
database. ``ln.setup.init`` writes it; a second instance of another name on the same PostgreSQL
database is refused unless it shares the database on purpose (``share=True``), and deleting one
of several sharing instances removes its row only, never the tables.

Existing databases get no row here: the first instance that uses the database claims it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lamin_instance",
        sa.Column("id", sa.String(length=12), primary_key=True),
        sa.Column("name", sa.String(length=255), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("lamin_instance")
