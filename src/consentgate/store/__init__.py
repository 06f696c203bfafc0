"""SQL storage: the only package that imports SQLAlchemy. One function per query."""
