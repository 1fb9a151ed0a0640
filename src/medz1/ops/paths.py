"""Paths the user names for medz1 to write: checked, never written through a link.

Every command that writes a file or folder the user names (``audit export --out``,
``docs dictionary --out``, ``demo generate --out``, ``backup create --out``,
``replica create --data-dir``) goes through these helpers, so that a path given by
mistake (an empty one, an existing file, a symbolic link planted in a shared folder)
never overwrites something else, and a file that holds audit or patient data is created
new with mode 0600 rather than keeping the mode and owner of a file it replaced
(security.md, S-rows on files at rest).
"""

from __future__ import annotations

import os
from pathlib import Path

from medz1.errors import UsageError

#: Flags of a file created new: never an existing file, never through a symbolic link.
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def given_path(value: str | Path, *, option: str) -> Path:
    """The path the user gave for ``option``, refusing an empty one.

    An empty string would mean the current folder to :class:`pathlib.Path`; a path that
    is empty was never meant to name it.

    Args:
        value: the option's text as typed.
        option: the option's name (``--out``), for the message.

    Returns:
        The path, not resolved.

    Raises:
        UsageError: ``value`` is empty, blank or holds a NUL character.
    """
    text = str(value)
    if not text.strip():
        raise UsageError(f"{option} is empty", hint=f"give {option} a path")
    if "\x00" in text:
        raise UsageError(f"{option} holds a NUL character", hint=f"give {option} a path")
    return Path(text)


def refuse_link(path: Path, *, option: str) -> None:
    """Refuse a path that is a symbolic link (medz1 never writes through one).

    Raises:
        UsageError: ``path`` is a symbolic link.
    """
    if path.is_symlink():
        raise UsageError(
            f"{option} {path} is a symbolic link",
            hint="name the real path; medz1 never writes through a symbolic link",
        )


def create_new_file(path: Path, *, option: str, force: bool = False, mode: int = 0o600) -> int:
    """Create ``path`` as a new file (``O_CREAT|O_EXCL|O_NOFOLLOW``) and return its descriptor.

    With ``force`` an existing regular file is removed first, so the new file gets
    ``mode`` and the caller as owner instead of keeping the old file's. A symbolic link,
    a folder or any other kind of file is never replaced.

    Args:
        path: the file to create.
        option: the option that named it (``--out``), for messages.
        force: replace an existing regular file.
        mode: permission bits of the new file (0600 for audit or patient data).

    Returns:
        A descriptor open for writing; the caller closes it.

    Raises:
        UsageError: ``path`` exists (without ``force``), is a link or not a regular
            file, or cannot be created (its folder is missing or not writable).
    """
    refuse_link(path, option=option)
    if path.exists():
        if not path.is_file():
            raise UsageError(
                f"{option} {path} exists and is not a regular file",
                hint=f"give {option} a new file's path",
            )
        if not force:
            raise UsageError(
                f"{option} {path} already exists",
                hint=f"give {option} a new file's path, or add --force to replace it",
            )
        try:
            path.unlink()
        except OSError as exc:
            raise UsageError(
                f"cannot replace {path}: {exc.strerror or type(exc).__name__}",
                hint=f"give {option} a new file's path",
            ) from exc
    try:
        fd = os.open(path, NEW_FILE_FLAGS, mode)
        os.fchmod(fd, mode)  # the umask may have taken bits the caller asked for
    except OSError as exc:
        raise UsageError(
            f"cannot create {path}: {exc.strerror or type(exc).__name__}",
            hint=f"give {option} a new file in a folder you can write to",
        ) from exc
    return fd
