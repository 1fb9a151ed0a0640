"""Fixtures and helpers shared by the test modules, loaded by ``tests/conftest.py``.

- :mod:`tests.plugins.database`: one bundled server per test session, a migrated template,
  a fresh cloned database per test (``db_target``, ``engine``, ``role_plan``, ...);
- :mod:`tests.plugins.auth`: the authentication store of a test database (``store``);
- :mod:`tests.plugins.audit`: rewinding and rewriting the audit trail for tamper tests;
- :mod:`tests.plugins.synthetic`: databases of synthetic patients (``synthetic_app``,
  ``read_session``).
"""
