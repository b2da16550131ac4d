from alembic import context

from kura.migrations import metadata

engine = context.config.attributes["engine"]
target_metadata = metadata()

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
