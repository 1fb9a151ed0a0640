"""Administration features of the ``admin`` schema: feature flags, system settings and user
preferences (see ``docs/admin.md``).
"""
