"""Roles, grants and the catalog: declared, read from the database, compared, applied."""
