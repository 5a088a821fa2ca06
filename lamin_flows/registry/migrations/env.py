"""Alembic environment: runs migrations on the connection lamin_flows hands over."""

from alembic import context

from lamin_flows.registry.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
