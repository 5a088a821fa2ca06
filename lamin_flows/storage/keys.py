"""Storage keys: relative POSIX paths inside a storage root.

A key names one object under a root, the same way on every backend: ``data/raw/cells.parquet``
is ``<root>/data/raw/cells.parquet`` in a folder and ``s3://bucket/prefix/data/raw/cells.parquet``
in a bucket. :func:`validate_key` is the single gate every key passes before it touches storage;
any key it returns stays inside the root, whatever the backend.

Normalization (the one choice the gate makes instead of refusing): ``.`` segments and empty
segments from doubled slashes are dropped, so ``./a//b/./c.txt`` is stored as ``a/b/c.txt``.
Both spellings cannot name anything but that one object, so refusing them would only annoy.
Non-ASCII keys are put in Unicode NFC form (``e`` + combining accent becomes ``é``), so the same
name typed on macOS (NFD) and on Linux (NFC) is one key.
Everything that could mean something else on some backend is refused with a message that says
how to fix the key, and so are invisible and bidirectional control characters (U+200B zero width
space, U+202E right-to-left override, U+FEFF, U+2028 line separator, ...: Unicode categories Cf,
Zl, Zp), which make a key look like another one.

Colons: a key is absolute only if it starts with a Windows drive, that is a first segment of a
letter and a colon alone (``C:``, ``C:/x``). ``a:b.txt`` and ``c:x`` are ordinary POSIX names
and accepted.

Windows reserved names (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9``,
with any extension, in any case) are valid keys here but cannot be created on Windows: they pass,
with a warning (once per key and process).
"""

from __future__ import annotations

import re
import unicodedata

from lamin_flows.errors import InvalidKeyError

TMP_PREFIX = ".lamindb/_tmp/"
"""Temporary keys (staged uploads, backups of replaced objects) live under this prefix."""

MANAGED_PREFIX = ".lamindb/"
"""Keys of files without a user key: ``.lamindb/<id><suffix>``."""

MAX_KEY_BYTES = 1024  # S3's and GCS's limit for object names
MAX_SEGMENT_BYTES = 255  # NAME_MAX of every common local filesystem

_DRIVE = re.compile(r"^[A-Za-z]:(?:/|$)")  # "C:", "C:/x": a Windows drive; "c:x" is a POSIX name
_ENCODED = re.compile(r"%(2f|2e|5c)", re.IGNORECASE)  # "/", ".", "\" once a server decodes the key
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Keys that pass every check below as they are: ASCII segments of safe characters, none of them
# "." or "..", none empty (so nothing to normalize). Checked in one regex match (~0.3 µs instead of
# ~4 µs), because every file of a bulk save passes the gate several times.
_SEGMENT = r"[\w.\-+=,@]{1,255}"
_PLAIN = re.compile(rf"(?:(?!\.\.?/){_SEGMENT}/)*(?!\.\.?$){_SEGMENT}", re.ASCII)
# Windows reserved names: a plain key holding one leaves the fast path, so the full check warns.
# Five substring tests (C speed) rule most keys out before the regex: +0.3 µs per key measured
# (0.42 -> 0.76 µs, best of 15 on 10,000 keys), where a lookahead in _PLAIN per segment cost +0.5 µs.
_RESERVED = r"(?:con|prn|aux|nul|com\d|lpt\d)"
_RESERVED_IN_KEY = re.compile(rf"(?:^|/){_RESERVED}(?:[./]|$)", re.ASCII | re.IGNORECASE)
_RESERVED_NAME = re.compile(rf"{_RESERVED} *", re.ASCII | re.IGNORECASE)
_INVISIBLE = ("Cf", "Zl", "Zp")  # format (zero-width, bidi controls, BOM), line and paragraph separators
_warned: set[str] = set()


def _refuse(key: object, problem: str, fix: str) -> InvalidKeyError:
    return InvalidKeyError(f"Invalid storage key {key!r}: {problem}. {fix}")


def validate_key(key: str) -> str:
    """Check that ``key`` is a safe relative POSIX path and return its normal form.

    Args:
        key: A path relative to a storage root, with ``/`` as separator.

    Returns:
        The key with ``.`` and empty segments removed (``"a/./b"`` -> ``"a/b"``), in NFC form.

    Raises:
        InvalidKeyError: The key is empty, absolute (``/x``, ``C:``, ``C:/x``), has a ``..``, ``~``
            or over-long segment, backslashes, control, invisible or bidi characters,
            percent-encoded separators or dots, ends with ``/``, or is longer than 1024 bytes.
            The message names the key and the fix.

    Example:
        >>> validate_key("results/./run1//table.parquet")
        'results/run1/table.parquet'
        >>> validate_key("../etc/passwd")
        Traceback (most recent call last):
        ...
        lamin_flows.errors.InvalidKeyError: Invalid storage key '../etc/passwd': ...
    """
    if isinstance(key, str) and len(key) <= MAX_KEY_BYTES and _PLAIN.fullmatch(key):
        lower = key.lower()
        if not (
            ("co" in lower or "nu" in lower or "lp" in lower or "pr" in lower or "au" in lower)
            and _RESERVED_IN_KEY.search(key)
        ):
            return key
    return _checked_key(key)


def _unicode_checked(key: str) -> str:
    """The NFC form of a non-ASCII key; InvalidKeyError if it holds an invisible or bidi control character."""
    for position, char in enumerate(key):
        if unicodedata.category(char) == "Cs":  # how Python spells a file name's bytes that are not UTF-8
            raise _refuse(
                key,
                f"it holds bytes that are not UTF-8 (position {position}; the name as bytes:"
                f" {key.encode('utf-8', 'surrogateescape')!r}), e.g. a file named in latin-1",
                "Rename the file to UTF-8 (e.g. `convmv -f latin1 -t utf8 --notest NAME`).",
            )
        if unicodedata.category(char) in _INVISIBLE:
            name = unicodedata.name(char, "a format character")
            raise _refuse(
                key,
                f"it contains the invisible character U+{ord(char):04X} ({name}) at position {position},"
                " which makes the key look like another one",
                "Remove that character from the key (or the file name).",
            )
    return unicodedata.normalize("NFC", key)


def _warn_reserved(key: str, segments: list[str]) -> None:
    for segment in segments:
        if _RESERVED_NAME.fullmatch(segment.split(".", 1)[0]) and key not in _warned:
            from lamin_flows import _logging

            _warned.add(key)
            _logging.warning(
                f"storage key {key!r}: {segment!r} is a reserved name on Windows, where this file cannot be"
                " created or copied to. Rename it if the data will be used on Windows."
            )
            return


def _checked_key(key: str) -> str:
    """:func:`validate_key` without the fast path: every check, one by one."""
    if not isinstance(key, str):
        raise _refuse(key, f"a key must be a str, not {type(key).__name__}", "Pass the key as a string.")
    if not key:
        raise _refuse(key, "it is empty", "Pass a relative path such as 'data/table.parquet'.")
    if not key.isascii():
        key = _unicode_checked(key)
    if _CONTROL.search(key):
        raise _refuse(key, "it contains NUL or control characters", "Remove them from the key.")
    if "\\" in key:
        raise _refuse(key, "it contains a backslash", "Use '/' to separate folders.")
    if key.startswith("/") or _DRIVE.match(key):
        raise _refuse(key, "it is absolute", "Give a path relative to the storage root, e.g. 'data/x.csv'.")
    if _ENCODED.search(key):
        raise _refuse(
            key,
            "it contains a percent-encoded '/', '.' or '\\' (%2f, %2e, %5c)",
            "Write the characters themselves, or choose another name.",
        )
    if key.endswith("/"):
        raise _refuse(key, "it ends with '/' and so names a folder", "Add the file name, e.g. 'data/x.csv'.")
    segments = [s for s in key.split("/") if s not in ("", ".")]
    if not segments:
        raise _refuse(key, "it names the storage root itself", "Add the file name, e.g. 'x.csv'.")
    if ".." in segments:
        raise _refuse(key, "it has a '..' segment that could leave the storage root", "Remove the '..'.")
    if segments[0].startswith("~"):
        raise _refuse(key, "it starts with '~', which shells expand to a home folder", "Rename the first folder.")
    for segment in segments:
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise _refuse(
                key,
                f"the segment {segment[:20]!r}... is longer than {MAX_SEGMENT_BYTES} bytes",
                "Shorten that file or folder name.",
            )
    normal = "/".join(segments)
    if len(normal.encode()) > MAX_KEY_BYTES:
        raise _refuse(key, f"it is longer than {MAX_KEY_BYTES} bytes", "Use shorter folder and file names.")
    _warn_reserved(normal, segments)
    return normal


def storage_key(key: str | None, file_id: str, suffix: str | None, is_latest: bool | None = True) -> str:
    """Where a File's data is stored: its key for the latest version of a key, otherwise
    ``.lamindb/<id><suffix>`` (a File without a key, or an older version of a key).

    The path at a key therefore always holds the key's latest version, and every older version
    keeps its bytes under its own id. Saving, the save journals and ``lamin verify`` all place
    data by this one rule.

    Example:
        >>> storage_key(None, "Ab12", ".csv")
        '.lamindb/Ab12.csv'
        >>> storage_key("reports/a.csv", "Ab12", ".csv", is_latest=False)
        '.lamindb/Ab12.csv'
    """
    if key is not None and is_latest is not False:
        return key
    return f"{MANAGED_PREFIX}{file_id}{suffix or ''}"


def is_temp_key(key: str) -> bool:
    """Whether ``key`` lies in the temporary area (:data:`TMP_PREFIX`).

    Example:
        >>> is_temp_key(".lamindb/_tmp/x1-table.csv")
        True
    """
    return key.startswith(TMP_PREFIX)


_COMPRESSED = {".gz", ".bz2", ".xz", ".zst", ".zip"}


def _suffixes(name: str) -> list[str]:
    # PurePosixPath(name).suffixes without building a path (~5 µs each, per registered file)
    parts = [part for part in name.split("/") if part and part != "."]
    base = parts[-1] if parts else ""
    if base.endswith("."):
        return []
    return ["." + suffix for suffix in base.lstrip(".").split(".")[1:]]


def suffix_of(name: str) -> str:
    """The suffix that says what a file is: ``.csv``, or ``.tsv.gz`` for a compressed one."""
    suffixes = _suffixes(name)
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSED and len(suffixes[-2]) <= 8:
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""
