"""Engines, the unit of work, SQLSTATE translation, the database target and the UTC type."""
