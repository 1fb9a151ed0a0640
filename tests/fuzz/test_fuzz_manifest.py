"""S32: mutated backup manifests (not UTF-8, not JSON, wrong types, missing or extra keys,
resealed so the digest matches) are refused with a documented error, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from medz1.errors import Medz1Error
from medz1.ops.backup import _manifest as bm
from medz1.ops.backup.archive import list_backups, open_backup
from tests.cli.conftest import Invoke
from tests.fuzz.budget import DOCUMENTED_CODES, FAST, FULL, Drawn, fuzz_settings

ARCHIVE = b"PGDMP not a real archive, but its size and digest are the manifest's"

BACKUP_FAULT = (
    "ops/backup.py open_backup and list_backups read manifest.json with read_text() and "
    "no error handling: a manifest that is not UTF-8 (b'\\\\xff') ends in 'unexpected "
    "UnicodeDecodeError', exit 1, from `medz1 backup verify DIR` and `backup list`, "
    "instead of a refusal (exit 8)"
)


def valid_manifest() -> dict[str, Any]:
    """A sealed manifest (as JSON data) that matches :data:`ARCHIVE`."""
    manifest = bm.Manifest(
        format=bm.FORMAT,
        created_at="2026-01-01T00:00:00+00:00",
        medz1_version="0.1.0",
        database="medz1",
        revision="0004",
        postgresql_version="18.0",
        pg_dump_version="18.0",
        schemas=("auth",),
        extensions=(bm.Extension(name="vector", version="0.8.1", schema_name="public"),),
        roles=(
            bm.RoleAttributes(
                name="med_z1_user",
                login=True,
                superuser=False,
                createrole=False,
                createdb=False,
                replication=False,
                bypassrls=False,
                inherit=True,
                connection_limit=100,
            ),
        ),
        tables=(
            bm.TableState(name="auth.users", rows=2, sha256="0" * 64, order=(("user_id", True),)),
        ),
        acl=(("auth", "medz1_owner=UC/medz1_owner"),),
        archive=bm.ArchiveFile(
            file=bm.ARCHIVE_NAME, size=len(ARCHIVE), sha256=hashlib.sha256(ARCHIVE).hexdigest()
        ),
        duration_seconds=1.5,
    ).sealed()
    data: dict[str, Any] = json.loads(manifest.to_json())
    return data


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(),
        st.text(max_size=20),
        st.sampled_from(["../../etc/passwd", "/", "archive.dump", "", "0" * 64]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _reseal(data: Any) -> Any:
    """Recompute the digest when the mutated manifest still validates, so the checks after
    the digest are reached too.
    """
    if not isinstance(data, dict):
        return data
    try:
        manifest = bm.Manifest.model_validate(data)
    except ValueError:
        return data
    return {**data, "manifest_sha256": manifest.sealed().manifest_sha256}


@st.composite
def mutated_json(draw: st.DrawFn) -> bytes:
    """The valid manifest with keys removed, added or given values of another type."""
    data: Any = valid_manifest()
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            data = draw(json_values) if action == "replace" else data
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
    if draw(st.booleans()):
        data = _reseal(data)
    return json.dumps(data).encode()


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    """Valid manifest text, cut or with characters changed (still UTF-8)."""
    text = json.dumps(valid_manifest(), indent=2)
    at = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(["cut", "insert", "empty"]))
    if kind == "cut":
        text = text[:at]
    elif kind == "insert":
        text = text[:at] + draw(st.text(min_size=1, max_size=8)) + text[at:]
    else:
        text = ""
    return text.encode("utf-8", "surrogatepass")


utf8_manifests = st.one_of(mutated_json(), mutated_text())
any_manifests = st.one_of(utf8_manifests, st.binary(max_size=200))


@pytest.fixture
def backups() -> Iterator[Path]:
    """A folder holding one backup directory (archive and manifest), kept across examples."""
    root = Path(tempfile.mkdtemp(prefix="medz1-fuzz-backups-"))
    (root / "one").mkdir()
    (root / "one" / bm.ARCHIVE_NAME).write_bytes(ARCHIVE)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _fuzz_manifests(
    backups: Path, examples: int, manifests: st.SearchStrategy[bytes], first: bytes | None = None
) -> None:
    drawn = Drawn()
    folder = backups / "one"

    @fuzz_settings(examples)
    @given(content=manifests)
    def check(content: bytes) -> None:
        drawn()
        (folder / bm.MANIFEST_NAME).write_bytes(content)
        code = 0
        try:
            open_backup(folder)
        except Medz1Error as exc:
            code = exc.exit_code
        assert code in DOCUMENTED_CODES
        listed = list_backups(backups)  # a broken manifest is listed with its problem
        assert [entry.path for entry in listed] == [folder]
        assert (listed[0].manifest is None) == (code != 0)

    if first is not None:  # an input known to have failed is always tried first
        check = example(content=first)(check)
    check()
    assert drawn.count >= examples


def test_valid_manifest_of_the_fuzz_opens(backups: Path) -> None:
    (backups / "one" / bm.MANIFEST_NAME).write_text(json.dumps(valid_manifest()))
    assert open_backup(backups / "one").manifest.archive.size == len(ARCHIVE)


def test_fuzzed_manifests_are_refused_with_a_documented_error(backups: Path) -> None:
    _fuzz_manifests(backups, FAST["manifest"], utf8_manifests)


@pytest.mark.slow
def test_fuzzed_manifests_are_refused_with_a_documented_error_full(backups: Path) -> None:
    _fuzz_manifests(backups, FULL["manifest"], utf8_manifests)


def test_fuzzed_manifest_bytes_are_refused_with_a_documented_error(backups: Path) -> None:
    _fuzz_manifests(backups, FAST["manifest"], any_manifests, first=b"\xff")


def test_backup_commands_refuse_a_manifest_that_is_not_utf8(
    cli: Invoke, backups: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", "postgresql://u:p@127.0.0.1:1/medz1")
    (backups / "one" / bm.MANIFEST_NAME).write_bytes(b'{"format": 1, "database": "\xff"}')
    result = cli("backup", "verify", str(backups / "one"))
    assert "Traceback" not in result.err
    assert result.code == 8, result.err
