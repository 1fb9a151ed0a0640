"""Backups of the medz1 database: the verbs ``create``, ``restore`` and ``verify``.

- :mod:`medz1.ops.backup.archive`: the shared types, listing and opening backups, and
  checking an archive against its manifest;
- ``_create``, ``_restore`` (a new database or ``--replace``: two strategies over the same
  job, the latter in ``_replace``) and ``_verify``: the verbs;
- :mod:`medz1.ops.backup.contents`: the archive compared with medz1's declared schema;
- :mod:`medz1.ops.backup.scratch`: databases built under an unfinished name;
- ``_manifest``, ``_observe``, ``_script``, ``_tools``: private helpers (the manifest, the
  state read from a database, the replay of pg_restore's script, the client programs).
"""

from medz1.ops.backup._create import create
from medz1.ops.backup._restore import restore
from medz1.ops.backup._verify import verify

__all__ = ["create", "restore", "verify"]
