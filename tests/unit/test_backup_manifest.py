"""A manifest or backup folder that is malformed in any way gives a clear DataError or
NotFoundError (exit 8 or 6), never a traceback (S32).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medz1.errors import DataError, Medz1Error, NotFoundError, UsageError
from medz1.ops.backup import _manifest as bm
from medz1.ops.backup.archive import file_digest, list_backups, open_backup


def manifest(**changes: Any) -> bm.Manifest:
    """A valid sealed manifest of an auth backup, with ``changes``."""
    base = bm.Manifest(
        format=bm.FORMAT,
        created_at="2026-01-01T00:00:00Z",
        medz1_version="1.0",
        database="medz1",
        revision="0004",
        postgresql_version="18.6",
        pg_dump_version="18.6",
        schemas=("auth",),
        extensions=(bm.Extension(name="vector", version="0.8.0", schema_name="public"),),
        roles=(),
        tables=(bm.TableState(name="auth.users", rows=2, sha256="0" * 64),),
        acl=(("auth", "owner schema auth: medz1_owner"),),
        archive=bm.ArchiveFile(file=bm.ARCHIVE_NAME, size=0, sha256="0" * 64),
        duration_seconds=1.5,
    )
    return base.model_copy(update=changes).sealed()


def as_dict(value: bm.Manifest) -> dict[str, Any]:
    """The manifest's JSON as a dictionary."""
    content: dict[str, Any] = json.loads(value.to_json())
    return content


def parse(raw: bytes) -> bm.Manifest:
    """Parse ``raw`` as a manifest file."""
    return bm.Manifest.from_json(raw, source="manifest.json")


def test_a_valid_manifest_round_trips() -> None:
    assert parse(manifest().to_json().encode()) == manifest()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"{", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'"manifest"', "not a JSON object"),
        (b"{}", "has format none"),
        (b'{"format": 2}', "has format 2"),
        (b'{"format": "1"}', 'has format "1"'),
        (b'{"format": true}', "has format true"),
        (b'{"format": 1.0}', "has format 1.0"),
        (b'{"format": 1}', "created_at: Field required"),
    ],
)
def test_malformed_manifest_is_a_data_error(raw: bytes, message: str) -> None:
    with pytest.raises(DataError, match=r"manifest\.json") as refused:
        parse(raw)
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tables", [{"name": "auth.users", "rows": "2", "sha256": "0"}], "tables.0.rows"),
        ("schemas", "auth", "schemas"),
        ("archive", None, "archive"),
        ("duration_seconds", "fast", "duration_seconds"),
        ("unexpected", 1, "unexpected"),
    ],
)
def test_wrong_types_and_unknown_keys_are_data_errors(
    key: str, value: object, message: str
) -> None:
    content = as_dict(manifest())
    content[key] = value
    with pytest.raises(DataError, match="is not a medz1 backup manifest") as refused:
        parse(json.dumps(content).encode())
    assert message in refused.value.message


@pytest.mark.parametrize("key", sorted(set(bm.Manifest.model_fields) - {"manifest_sha256"}))
def test_every_missing_key_is_a_data_error(key: str) -> None:
    content = as_dict(manifest())
    del content[key]
    with pytest.raises(DataError):
        parse(json.dumps(content).encode())


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"schemas": ("auth", "pg_catalog")}, "schema 'pg_catalog'"),
        ({"schemas": ("auth", "auth")}, "a schema listed twice"),
        (
            {"extensions": (bm.Extension(name="plperlu", version="1", schema_name="x"),)},
            "extension 'plperlu'",
        ),
        ({"tables": (bm.TableState(name="public.x", rows=0, sha256=""),)}, "table 'public.x'"),
        ({"archive": bm.ArchiveFile(file="../x", size=0, sha256="")}, "outside its directory"),
        ({"archive": bm.ArchiveFile(file="..", size=0, sha256="")}, "outside its directory"),
    ],
)
def test_manifest_naming_what_medz1_does_not_declare_is_refused(
    changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(DataError, match="names what medz1 does not declare") as refused:
        parse(manifest(**changes).to_json().encode())
    assert named in refused.value.message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_data_error_or_a_manifest(raw: bytes) -> None:
    with pytest.raises(DataError):
        parse(raw)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(bm.Manifest.model_fields)), _JSON)
def test_any_value_in_any_key_gives_a_data_error_or_a_manifest(key: str, value: object) -> None:
    content = as_dict(manifest())
    content[key] = value
    with contextlib.suppress(DataError):  # any other exception fails the test
        parse(json.dumps(content).encode())


# -- backup folders ---------------------------------------------------------------------------


def folder_with(tmp_path: Path, value: bm.Manifest | bytes | None, archive: bool = True) -> Path:
    """A backup folder holding ``value`` as its manifest and, if asked, an archive."""
    folder = tmp_path / "backup"
    folder.mkdir()
    if archive:
        (folder / bm.ARCHIVE_NAME).write_bytes(b"PGDMP")
    if isinstance(value, bm.Manifest):
        size, sha256 = file_digest(folder / bm.ARCHIVE_NAME)
        value = value.model_copy(
            update={"archive": bm.ArchiveFile(file=bm.ARCHIVE_NAME, size=size, sha256=sha256)}
        ).sealed()
        (folder / bm.MANIFEST_NAME).write_text(value.to_json())
    elif value is not None:
        (folder / bm.MANIFEST_NAME).write_bytes(value)
    return folder


def test_a_consistent_folder_opens(tmp_path: Path) -> None:
    assert open_backup(folder_with(tmp_path, manifest())).manifest.revision == "0004"


def test_a_missing_archive_is_not_found(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, manifest())
    (folder / bm.ARCHIVE_NAME).unlink()
    with pytest.raises(NotFoundError, match="is missing"):
        open_backup(folder)


def test_an_archive_that_is_a_directory_is_not_found(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, manifest())
    (folder / bm.ARCHIVE_NAME).unlink()
    (folder / bm.ARCHIVE_NAME).mkdir()
    with pytest.raises(NotFoundError):
        open_backup(folder)


def test_a_manifest_that_is_a_directory_is_not_found(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, None)
    (folder / bm.MANIFEST_NAME).mkdir()
    with pytest.raises(NotFoundError, match=r"holds no manifest\.json"):
        open_backup(folder)


def test_a_non_utf8_manifest_is_a_data_error_when_opened(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not UTF-8"):
        open_backup(folder_with(tmp_path, b"\xff\xfe"))


def test_list_shows_a_non_utf8_manifest_as_a_problem(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, b"\x80 not text")
    [entry] = list_backups(folder.parent)
    assert entry.manifest is None
    assert "not UTF-8" in (entry.problem or "")


def test_a_backup_folder_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "backups"
    root.write_text("not a folder")
    with pytest.raises(UsageError, match="is a file"):
        list_backups(root)


def test_a_path_that_is_a_stray_file_is_refused(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, manifest())
    (folder / "notes.txt").write_text("x")
    with pytest.raises(Medz1Error, match="not part of the backup"):
        open_backup(folder / "notes.txt")
