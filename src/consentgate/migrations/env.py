"""Alembic environment: runs on the connection consentgate passes in ``attributes``."""

from alembic import context

from consentgate.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
