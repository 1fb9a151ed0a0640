"""``python -m medz1``: the same as the ``medz1`` command."""

from medz1.cli.main import run

run()
