"""Link tables answer "which Files carry this Tag (Project, were read by this Run)" from one index.

Each link table had a single-column index on its second column (``file_tag.tag_id``, ...): a query
by Tag found the link rows through it, then read every row for its ``file_id``. With versions, a Tag
added to every version of 100,000 keys is 300,000 link rows, and those row reads were a tenth of
``File.select(tags=tag)``. The two-column index (``tag_id, file_id``) holds both values, so the
query reads the index only; it replaces the single-column one, of which it is an extension.

``ix_file_latest_id`` indexes the ids of latest versions only. "Which latest Files carry this Tag"
then looks each linked id up in it, and the ids of older versions end there, without reading their
rows (300,000 links: 160 ms to 110 ms). SQLite picks it when it has statistics: a sampled ANALYZE
(about 1 ms) runs here and after bulk saves (``db.refresh_statistics``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# table, the column queries select by, the other column, the single-column index it replaces
LINKS = (
    ("file_tag", "tag_id", "file_id", "ix_file_tag_tag_id"),
    ("file_project", "project_id", "file_id", "ix_file_project_project_id"),
    ("run_input", "file_id", "run_id", "ix_run_input_file_id"),
)


def upgrade() -> None:
    for table, by, other, old in LINKS:
        op.create_index(f"ix_{table}_{by}_{other}", table, [by, other], unique=False)
        op.drop_index(old, table_name=table)
    op.create_index(
        "ix_file_latest_id",
        "file",
        ["id"],
        unique=False,
        sqlite_where=sa.text("is_latest = 1"),  # the form SQLAlchemy writes the latest-only condition in
        postgresql_where=sa.text("is_latest"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA analysis_limit=400")
        op.execute("ANALYZE file")


def downgrade() -> None:
    op.drop_index("ix_file_latest_id", table_name="file")
    for table, by, other, old in LINKS:
        op.create_index(old, table, [by], unique=False)
        op.drop_index(f"ix_{table}_{by}_{other}", table_name=table)
