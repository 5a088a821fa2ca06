"""Baseline schema: Storage, User, Transform, Run, File, Tag, Project and their links.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user',
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=12), nullable=False),
    sa.Column('handle', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('handle')
    )
    op.create_table('project',
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_by_id', sa.String(length=12), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('storage',
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=12), nullable=False),
    sa.Column('root', sa.String(length=1024), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.String(length=12), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('root')
    )
    op.create_table('tag',
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_by_id', sa.String(length=12), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('transform',
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=True),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('source_hash', sa.String(length=64), nullable=True),
    sa.Column('reference', sa.String(length=512), nullable=True),
    sa.Column('created_by_id', sa.String(length=12), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', 'version', 'reference')
    )
    op.create_index(op.f('ix_transform_name'), 'transform', ['name'], unique=False)
    op.create_table('run',
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=20), nullable=False),
    sa.Column('transform_id', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('reference_type', sa.String(length=64), nullable=True),
    sa.Column('parent_id', sa.String(length=20), nullable=True),
    sa.Column('created_by_id', sa.String(length=12), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['parent_id'], ['run.id'], ),
    sa.ForeignKeyConstraint(['transform_id'], ['transform.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_run_reference'), 'run', ['reference'], unique=False)
    op.create_index(op.f('ix_run_transform_id'), 'run', ['transform_id'], unique=False)
    op.create_table('file',
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=1024), nullable=True),
    sa.Column('key', sa.String(length=1024), nullable=True),
    sa.Column('storage_id', sa.String(length=12), nullable=False),
    sa.Column('suffix', sa.String(length=32), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('hash', sa.String(length=86), nullable=True),
    sa.Column('hash_type', sa.String(length=16), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('transform_id', sa.String(length=12), nullable=True),
    sa.Column('run_id', sa.String(length=20), nullable=True),
    sa.Column('created_by_id', sa.String(length=12), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.ForeignKeyConstraint(['storage_id'], ['storage.id'], ),
    sa.ForeignKeyConstraint(['transform_id'], ['transform.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('storage_id', 'key', name='uq_file_storage_key')
    )
    op.create_index(op.f('ix_file_hash'), 'file', ['hash'], unique=False)
    op.create_index(op.f('ix_file_key'), 'file', ['key'], unique=False)
    op.create_index(op.f('ix_file_run_id'), 'file', ['run_id'], unique=False)
    op.create_index(op.f('ix_file_transform_id'), 'file', ['transform_id'], unique=False)
    op.create_table('file_project',
    sa.Column('file_id', sa.String(length=20), nullable=False),
    sa.Column('project_id', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['file.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('file_id', 'project_id')
    )
    op.create_index(op.f('ix_file_project_project_id'), 'file_project', ['project_id'], unique=False)
    op.create_table('file_tag',
    sa.Column('file_id', sa.String(length=20), nullable=False),
    sa.Column('tag_id', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['file.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('file_id', 'tag_id')
    )
    op.create_index(op.f('ix_file_tag_tag_id'), 'file_tag', ['tag_id'], unique=False)
    op.create_table('run_input',
    sa.Column('run_id', sa.String(length=20), nullable=False),
    sa.Column('file_id', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['file.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'file_id')
    )
    op.create_index(op.f('ix_run_input_file_id'), 'run_input', ['file_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_run_input_file_id'), table_name='run_input')
    op.drop_table('run_input')
    op.drop_index(op.f('ix_file_tag_tag_id'), table_name='file_tag')
    op.drop_table('file_tag')
    op.drop_index(op.f('ix_file_project_project_id'), table_name='file_project')
    op.drop_table('file_project')
    op.drop_index(op.f('ix_file_transform_id'), table_name='file')
    op.drop_index(op.f('ix_file_run_id'), table_name='file')
    op.drop_index(op.f('ix_file_key'), table_name='file')
    op.drop_index(op.f('ix_file_hash'), table_name='file')
    op.drop_table('file')
    op.drop_index(op.f('ix_run_transform_id'), table_name='run')
    op.drop_index(op.f('ix_run_reference'), table_name='run')
    op.drop_table('run')
    op.drop_index(op.f('ix_transform_name'), table_name='transform')
    op.drop_table('transform')
    op.drop_table('tag')
    op.drop_table('storage')
    op.drop_table('project')
    op.drop_table('user')
