"""The patient read layer: query functions taking a session, returning frozen records."""
