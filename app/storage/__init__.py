"""Where the service's state lives: jobs, epoch histories, the model registry, the live-model pointer.

One SQL implementation (SQLAlchemy Core) serves two backends: the embedded one (a SQLite file and
artifacts in a local directory, `DIGITS_STATE_DIR`) and PostgreSQL (`DIGITS_DATABASE_URL`, weights
included). Alembic migrates either from any earlier version.
"""
