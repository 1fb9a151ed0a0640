"""The declared catalog: what a freshly migrated medz1 database holds beyond tables.

Alembic compares tables, columns, indexes and keys; it does not compare CHECK constraints,
function bodies, triggers, row security, or the other objects a schema can hold. This
module snapshots those from a database (:func:`snapshot`), keeps the snapshot of a freshly
migrated database in the package (``catalog.json``), and names every difference between
that declaration and a live database (:func:`differences`).

Regenerate the declared snapshot after a migration changes any of these (one command; it
starts a throw-away bundled server, migrates a new database and writes the file)::

    python -m medz1.provision.catalog

``tests/db/test_catalog.py`` fails while the file is stale.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Connection

from medz1.provision.objects import user_objects

Snapshot = dict[str, Any]

FILE_NAME = "catalog.json"
REGENERATE = "python -m medz1.provision.catalog"

#: Object types compared elsewhere: by Alembic (tables, indexes, keys, defaults) or by a
#: section of their own below (routines, triggers, policies).
_COMPARED_ELSEWHERE = frozenset(
    {
        "table",
        "index",
        "table constraint",
        "default value",
        "trigger",
        "policy",
        "function",
        "procedure",
        "aggregate",
    }
)

_FUNCTIONS = """
SELECT p.oid::regprocedure::text, p.prokind, p.prosecdef, COALESCE(p.proconfig, '{}'),
       p.provolatile, pg_get_userbyid(p.proowner),
       encode(sha256(convert_to(CASE WHEN p.prokind IN ('f', 'p')
                                     THEN pg_get_functiondef(p.oid)
                                     ELSE p.prosrc END, 'UTF8')), 'hex'),
       EXISTS (SELECT 1 FROM pg_proc b WHERE b.proname = p.proname
               AND b.pronamespace = 'pg_catalog'::regnamespace)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY(:schemas)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1
"""

_CHECKS = """
SELECT n.nspname || '.' || c.relname || '.' || k.conname, pg_get_constraintdef(k.oid),
       k.convalidated
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype = 'c' AND n.nspname = ANY(:schemas)
ORDER BY 1
"""

_TRIGGERS = """
SELECT n.nspname || '.' || c.relname || '.' || t.tgname, t.tgenabled,
       pg_get_triggerdef(t.oid), t.tgfoid::regprocedure::text
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname = ANY(:schemas)
ORDER BY 1
"""

_ROW_SECURITY = """
SELECT n.nspname || '.' || c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas) AND (c.relrowsecurity OR c.relforcerowsecurity)
ORDER BY 1
"""

_POLICIES = """
SELECT schemaname || '.' || tablename || '.' || policyname, permissive, roles::text[], cmd,
       COALESCE(qual, ''), COALESCE(with_check, '')
FROM pg_policies WHERE schemaname = ANY(:schemas)
ORDER BY 1
"""


def snapshot(conn: Connection, schemas: tuple[str, ...]) -> Snapshot:
    """The catalog state of the database ``conn`` is connected to, as plain JSON data.

    Args:
        conn: an administrator connection to a medz1 database.
        schemas: medz1's schemas.

    Returns:
        ``objects`` (names of every other user object), ``functions`` (kind, security
        definer, config, volatility, owner and a SHA-256 of ``pg_get_functiondef``),
        ``checks`` (definition, validated), ``triggers`` (enabled state, definition,
        function), ``row_security`` and ``policies``.
    """
    params = {"schemas": list(schemas)}
    # With an empty search_path every name in the output is schema-qualified
    # (``public.lower(character varying)``), until the end of the caller's transaction.
    conn.execute(text("SELECT set_config('search_path', '', true)"))
    functions = {
        str(sig): {
            "kind": kind,
            "security_definer": bool(secdef),
            "config": list(config),
            "volatility": volatility,
            "owner": owner,
            "definition_sha256": digest,
        }
        for sig, kind, secdef, config, volatility, owner, digest, _ in conn.execute(
            text(_FUNCTIONS), params
        )
    }
    return {
        "regenerate": REGENERATE,
        "objects": sorted(
            o.name for o in user_objects(conn, schemas) if o.type not in _COMPARED_ELSEWHERE
        ),
        "functions": functions,
        "checks": {
            str(name): {"definition": definition, "validated": bool(valid)}
            for name, definition, valid in conn.execute(text(_CHECKS), params)
        },
        "triggers": {
            str(name): {"enabled": enabled, "definition": definition, "function": function}
            for name, enabled, definition, function in conn.execute(text(_TRIGGERS), params)
        },
        "row_security": {
            str(name): {"enabled": bool(on), "forced": bool(forced)}
            for name, on, forced in conn.execute(text(_ROW_SECURITY), params)
        },
        "policies": {
            str(name): {
                "permissive": permissive,
                "roles": sorted(roles),
                "command": cmd,
                "using": using,
                "with_check": check,
            }
            for name, permissive, roles, cmd, using, check in conn.execute(text(_POLICIES), params)
        },
    }


def shadowing_functions(conn: Connection, schemas: tuple[str, ...]) -> set[str]:
    """Functions in ``schemas`` named like a built-in (``public.lower(varchar)``)."""
    conn.execute(text("SELECT set_config('search_path', '', true)"))
    return {
        str(row[0]) for row in conn.execute(text(_FUNCTIONS), {"schemas": list(schemas)}) if row[7]
    }


def declared() -> Snapshot:
    """The snapshot shipped in the package (``medz1/provision/catalog.json``)."""
    data: Snapshot = json.loads(
        resources.files("medz1.provision").joinpath(FILE_NAME).read_text(encoding="utf-8")
    )
    return data


def render(data: Snapshot) -> str:
    """The snapshot as the text of ``catalog.json`` (stable order, one final newline)."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


_TRIGGER_STATES = {"O": "enabled", "D": "disabled", "R": "enabled on replicas only", "A": "always"}


def _keyed(label: str, declared_items: dict[str, Any], actual_items: dict[str, Any]) -> list[str]:
    found = [
        f"{label} {name}: declared but missing"
        for name in sorted(declared_items.keys() - actual_items.keys())
    ]
    found += [
        f"{label} {name}: in the database, not declared"
        for name in sorted(actual_items.keys() - declared_items.keys())
    ]
    return found


def _function_lines(name: str, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    lines = []
    for field, words in (
        ("security_definer", "SECURITY DEFINER"),
        ("config", "settings (SET ...)"),
        ("volatility", "volatility"),
        ("owner", "owner"),
        ("kind", "kind"),
    ):
        if want[field] != have[field]:
            lines.append(f"function {name}: {words} is {have[field]!s}, declared {want[field]!s}")
    if not lines and want["definition_sha256"] != have["definition_sha256"]:
        lines.append(f"function {name}: definition (body) differs from the declared one")
    return lines


def differences(want: Snapshot, have: Snapshot, *, shadowing: set[str] | None = None) -> list[str]:
    """Every difference between the declared snapshot ``want`` and ``have``, one line each."""
    found = [
        f"{name}: in the database, not declared"
        for name in sorted(set(have["objects"]) - set(want["objects"]))
    ]
    found += [
        f"{name}: declared but missing"
        for name in sorted(set(want["objects"]) - set(have["objects"]))
    ]
    found += _function_differences(want, have, shadowing or set())
    found += _check_differences(want, have)
    found += _trigger_differences(want, have)
    found += _row_security_differences(want, have)
    found += _keyed("policy", want["policies"], have["policies"])
    for name in sorted(want["policies"].keys() & have["policies"].keys()):
        if want["policies"][name] != have["policies"][name]:
            found.append(f"policy {name}: differs from the declared one")
    return found


def _function_differences(want: Snapshot, have: Snapshot, shadowing: set[str]) -> list[str]:
    found = []
    for name in sorted(have["functions"].keys() - want["functions"].keys()):
        base = name.split("(")[0].rpartition(".")[2]
        note = f" (shadows the built-in pg_catalog.{base})" if name in shadowing else ""
        found.append(f"function {name}: in the database, not declared{note}")
    for name in sorted(want["functions"].keys() - have["functions"].keys()):
        found.append(f"function {name}: declared but missing")
    for name in sorted(want["functions"].keys() & have["functions"].keys()):
        found += _function_lines(name, want["functions"][name], have["functions"][name])
    return found


def _check_differences(want: Snapshot, have: Snapshot) -> list[str]:
    found = _keyed("check constraint", want["checks"], have["checks"])
    for name in sorted(want["checks"].keys() & have["checks"].keys()):
        w, h = want["checks"][name], have["checks"][name]
        if w["definition"] != h["definition"]:
            found.append(
                f"check constraint {name}: is {h['definition']}, declared {w['definition']}"
            )
        if w["validated"] and not h["validated"]:
            found.append(f"check constraint {name}: NOT VALID (existing rows never checked)")
    return found


def _trigger_differences(want: Snapshot, have: Snapshot) -> list[str]:
    found = _keyed("trigger", want["triggers"], have["triggers"])
    for name in sorted(want["triggers"].keys() & have["triggers"].keys()):
        w, h = want["triggers"][name], have["triggers"][name]
        if w["enabled"] != h["enabled"]:
            state = _TRIGGER_STATES.get(h["enabled"], h["enabled"])
            found.append(f"trigger {name}: {state}, declared {_TRIGGER_STATES.get(w['enabled'])}")
        if w["definition"] != h["definition"] or w["function"] != h["function"]:
            found.append(
                f"trigger {name}: definition is {h['definition']}, declared {w['definition']}"
            )
    return found


def _row_security_differences(want: Snapshot, have: Snapshot) -> list[str]:
    found = []
    for name in sorted(want["row_security"].keys() | have["row_security"].keys()):
        w = want["row_security"].get(name, {"enabled": False, "forced": False})
        h = have["row_security"].get(name, {"enabled": False, "forced": False})
        if w != h:
            found.append(
                f"row security on {name}: enabled {h['enabled']}, forced {h['forced']}; "
                f"declared enabled {w['enabled']}, forced {w['forced']}"
            )
    return found


def _generate(out: Path) -> None:
    from medz1.db.engine import make_engine
    from medz1.db.target import Target
    from medz1.embedded import SUPERUSER, EmbeddedServer
    from medz1.models import SCHEMAS, metadata
    from medz1.ops.up import up
    from medz1.provision.credentials import RolePlan
    from medz1.provision.declared import LOGIN_ROLES, declared_matrix, role_specs

    folder = Path(tempfile.mkdtemp(prefix="medz1-catalog-"))
    server = EmbeddedServer(folder / "data")
    server.start()
    try:
        target = Target(url=server.url("medz1", user=SUPERUSER), embedded=True)
        role_plan = RolePlan(
            specs=role_specs(),
            matrix=declared_matrix(metadata, SCHEMAS),
            passwords={role: SecretStr(secrets.token_urlsafe(24)) for role in LOGIN_ROLES},
        )
        up(target, role_plan, audit=False)
        engine = make_engine(target.url)
        try:
            with engine.connect() as conn:
                data = snapshot(conn, tuple(SCHEMAS))
        finally:
            engine.dispose()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    out.write_text(render(data), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Write the declared snapshot from a freshly migrated database on a scratch server."""
    parser = argparse.ArgumentParser(prog=REGENERATE, description=main.__doc__)
    default = Path(__file__).with_name(FILE_NAME)
    parser.add_argument("--out", type=Path, default=default, help=f"default: {default.name}")
    args = parser.parse_args(argv)
    _generate(args.out)


if __name__ == "__main__":
    main()
