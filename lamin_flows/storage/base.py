"""The contract every storage backend fulfils, and what the backends share.

The registry writes a file in two steps so that a failure never leaves a half-written object
under a key a record points to:

1. ``stage_in`` / ``write_temp`` copy or upload the data to a fresh key under
   :data:`~lamin_flows.storage.keys.TMP_PREFIX`, hashing it on the way (:class:`Staged`).
2. ``commit`` moves it to its final key (no-clobber unless ``overwrite=True``); ``restore`` and
   ``discard`` undo either step if the database transaction fails.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lamin_flows._parallel import map_adaptive, map_batched
from lamin_flows._progress import progress
from lamin_flows.config import get_settings
from lamin_flows.errors import InvalidKeyError, StorageError, StorageNotFoundError
from lamin_flows.storage.hashing import HashResult
from lamin_flows.storage.keys import TMP_PREFIX, is_temp_key, validate_key

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# a local copy slower than this on average (network filesystem, large files) goes to threads;
# a 1 KiB file takes ~50 µs on an idle disk and up to ~600 µs while the kernel is busy allocating
SLOW_COPY_S = 0.002
_MISSING = {errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP}  # the errors Path.exists() reads as "no"


@dataclass(frozen=True)
class Staged:
    """Data copied or uploaded to a temporary key, not yet committed to its final key.

    Attributes:
        temp_key: The key under ``.lamindb/_tmp/`` that holds the data.
        size: Number of bytes.
        hash: Content hash (see :func:`~lamin_flows.storage.hash_file`).
        hash_type: "md5" or "blake3".

    Example:
        >>> staged = backend.stage_in("table.csv")  # doctest: +SKIP
        >>> backend.commit(staged.temp_key, "data/table.csv")  # doctest: +SKIP
    """

    temp_key: str
    size: int
    hash: str
    hash_type: str

    @property
    def hash_result(self) -> HashResult:
        """Size and hash as a :class:`HashResult`, e.g. to pass as ``expected`` to ``stage``."""
        return HashResult(self.size, self.hash, self.hash_type)


def new_temp_key(name: str = "", *, kind: str = "", suffix: str = "") -> str:
    """A fresh, unguessable key under :data:`TMP_PREFIX` that keeps ``name``'s readable tail.

    Args:
        name: A file name to keep (unsafe characters become "_").
        kind: A word saying what the key holds, e.g. "backup".
        suffix: Appended as is (after the same cleaning), e.g. ".parquet".

    Example:
        >>> new_temp_key("my table.csv")  # doctest: +SKIP
        '.lamindb/_tmp/3f9c2a7d0b1e4c55-my_table.csv'
    """
    tail = _UNSAFE.sub("_", name)[-100:]  # short enough for any filesystem's name limit
    stem = "-".join(p for p in (secrets.token_hex(8), kind, tail) if p)  # the hex start rules out "."/".."
    return TMP_PREFIX + stem + _UNSAFE.sub("_", suffix)[:50]


def read_document(backend: Any, key: str, fmt: str, list_field: str) -> dict[str, Any] | None:
    """The JSON document lamin_flows keeps at ``key`` (a save journal, an owner marker), or None if it
    is gone, cut short, or not of format ``fmt`` with a list under ``list_field``."""
    import json

    try:
        with backend.open(key, "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != fmt:
        return None
    return document if isinstance(document.get(list_field), list) else None


def check_source(src: str | os.PathLike[str]) -> Path:
    """Return ``src`` as a Path after checking it is an existing regular local file."""
    return Path(source_path(src))


def source_path(src: str | os.PathLike[str]) -> str:
    """:func:`check_source` as a plain string (this runs once per file of a bulk copy)."""
    text = os.fspath(src)
    if text.startswith("~"):
        text = os.path.expanduser(text)
    try:
        mode = os.stat(text).st_mode  # one stat, not two (exists + is_file)
    except OSError as error:
        if error.errno not in _MISSING:  # as Path.exists(): other errors (permission) propagate
            raise
        raise StorageNotFoundError(f"Cannot store {os.fspath(src)!r}: no such file. Check the path.") from None
    if not stat.S_ISREG(mode):
        raise StorageError(
            f"Cannot store {os.fspath(src)!r}: it is not a regular file (a folder, pipe or device)."
            " Pass the files inside it one by one."
        )
    return text


def check_temp_key(key: str) -> str:
    """Validate a key that must lie in the temporary area, so cleanup can never delete real data."""
    key = validate_key(key)
    if not is_temp_key(key):
        raise InvalidKeyError(
            f"Invalid temporary key {key!r}: it must start with {TMP_PREFIX!r}."
            " Use delete() to remove committed objects."
        )
    return key


class StorageBackend(ABC):
    """One storage root (a local folder or a cloud bucket/prefix) and the operations on its keys.

    Get one with :func:`~lamin_flows.storage.get_backend`; do not construct backends directly.

    Attributes:
        root: The normalized root, as :func:`~lamin_flows.storage.root_of` returns it.
        protocol: "local", "s3", "gs", "memory", ...

    Example:
        >>> backend = get_backend("/data/store")  # doctest: +SKIP
        >>> staged = backend.stage_in("results/table.csv")  # doctest: +SKIP
        >>> backend.commit(staged.temp_key, "results/table.csv")  # doctest: +SKIP
    """

    root: str
    protocol: str
    #: Whether per-file operations wait on a network, so that threads overlap them (cloud
    #: storage). False for a local folder, whose small copies and renames are CPU and kernel time.
    parallel_io: bool = True

    def __repr__(self) -> str:
        # storage options can hold secrets: never show them
        return f"{type(self).__name__}(root={self.root!r}, protocol={self.protocol!r})"

    @abstractmethod
    def relative_key(self, path_or_url: str | os.PathLike[str]) -> str | None:
        """The key of ``path_or_url`` if it lies inside this root, else None."""

    @abstractmethod
    def path(self, key: str) -> Any:
        """Where ``key`` lives: a ``pathlib.Path`` (local) or the URL string (cloud)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key`` (fresh state, never a stale listing)."""

    @abstractmethod
    def info(self, key: str) -> HashResult:
        """Size and hash of the stored object; cloud backends read them from metadata."""

    def size(self, key: str) -> int:
        """The number of bytes stored under ``key``, without reading them (a ``stat``, a HEAD).

        Raises:
            StorageNotFoundError: nothing is stored under ``key``.

        Example:
            >>> backend.size("data/x.csv")  # doctest: +SKIP
            12
        """
        return self.info(key).size

    def folders(self, prefix: str = "") -> list[str]:
        """The names of the folders right below ``prefix`` (a folder key, "" for the root), sorted.

        One listing of one level (cloud: a delimited LIST request), never a walk of everything
        below; a missing folder has none.

        Example:
            >>> backend.folders("")  # doctest: +SKIP
            ['.lamindb', 'results']
        """
        start = f"{prefix.rstrip('/')}/" if prefix else ""
        found = {key[len(start) :].split("/", 1)[0] for key, _ in self.list(start) if "/" in key[len(start) :]}
        return sorted(found)

    @abstractmethod
    def stage_in(self, src: str | os.PathLike[str]) -> Staged:
        """Copy or upload a local file to a fresh temporary key, hashing while copying."""

    def stage_in_many(self, srcs: list[str | os.PathLike[str]]) -> list[Staged]:
        """:meth:`stage_in` for many files, with a progress bar.

        Uploads run on ``settings.workers`` threads. Local copies run in this thread while files
        are quick (small files: threads would only take turns with the GIL) and move to the
        threads once they are slow on average (large files, network filesystems).

        All or nothing: if any file fails, the ones already staged are discarded and the first
        error is raised.

        Args:
            srcs: Local files.

        Returns:
            One :class:`Staged` per source, in the same order.

        Example:
            >>> staged = backend.stage_in_many(["a.csv", "b.csv"])  # doctest: +SKIP
        """
        if len(srcs) <= 1:
            return [self.stage_in(src) for src in srcs]
        failed: list[tuple[int, Exception]] = []
        done: list[Staged] = []  # what to discard if anything fails (appends are thread-safe)

        def stage_one(item: tuple[int, str | os.PathLike[str]]) -> Staged | None:
            try:
                staged = self._stage_in_one_of_many(item[1])
            except Exception as error:  # every file is tried; the first one's error is raised below  # noqa: BLE001
                failed.append((item[0], error))
                return None
            done.append(staged)
            return staged

        items = list(enumerate(srcs))
        workers = get_settings().workers
        results: list[Staged | None] = []
        try:
            with progress("storing files", total=len(srcs)) as advance:
                if self.parallel_io:  # every file waits on the network: overlap the waits
                    for batch in map_batched(stage_one, items, workers):
                        results.extend(batch)
                        advance(len(batch))
                else:
                    results = map_adaptive(stage_one, items, workers, slow_s=SLOW_COPY_S, advance=advance)
            if failed:
                raise min(failed, key=lambda pair: pair[0])[1]
            self._staged_many(done)
        except BaseException:  # a failed file, or an interrupt (Ctrl-C) in the middle
            self.discard_many([staged.temp_key for staged in done])
            raise
        return [s for s in results if s is not None]

    def _stage_in_one_of_many(self, src: str | os.PathLike[str]) -> Staged:
        """One file of :meth:`stage_in_many`; a backend may defer per-file work to :meth:`_staged_many`."""
        return self.stage_in(src)

    def _staged_many(self, staged: list[Staged]) -> None:  # noqa: B027 - an optional hook, a no-op by default
        """Called once every file of :meth:`stage_in_many` is staged (a folder: one disk flush)."""

    @abstractmethod
    def write_temp(self, writer: Callable[[Path], None], suffix: str) -> Staged:
        """Let ``writer(local_path)`` produce a file, then stage it under a temporary key."""

    @abstractmethod
    def commit(
        self,
        temp_key: str,
        final_key: str,
        *,
        overwrite: bool = False,
        keep_temp: bool = False,
        size: int | None = None,
    ) -> str | None:
        """Move a staged object to ``final_key``; with ``overwrite`` return the backup key of the old one.

        ``keep_temp=True`` leaves the staged object in place as well, for callers that may need to
        commit it again (the registry, when its database transaction fails after this step).
        ``size``, the staged object's size if the caller knows it, saves cloud storage a request.
        """

    @abstractmethod
    def link(self, from_key: str, to_key: str) -> None:
        """Make ``to_key`` hold the same bytes as ``from_key``, which stays (no-clobber).

        Local folders make a hard link (no copy, no extra space); cloud storage copies
        server-side. Versions use it to keep an older version's bytes under its own key.

        Raises:
            KeyConflictError: (a FileExistsError) ``to_key`` exists already.
            StorageNotFoundError: nothing is stored under ``from_key``.
        """

    @abstractmethod
    def copy_over(self, from_key: str, to_key: str) -> None:
        """Atomically put ``from_key``'s bytes under ``to_key``, replacing what is there
        (readers see the old or the new bytes, never none); ``from_key`` stays.

        Raises:
            StorageNotFoundError: nothing is stored under ``from_key``.
        """

    @abstractmethod
    def restore(self, backup_key: str, final_key: str) -> None:
        """Undo ``commit(..., overwrite=True)``: put the backup back under ``final_key``."""

    @abstractmethod
    def discard(self, temp_key: str) -> None:
        """Remove a temporary or backup object; no error if it is already gone."""

    def discard_many(self, temp_keys: list[str]) -> None:
        """:meth:`discard` for many keys (cloud storage: one request per 1,000 keys)."""
        for key in temp_keys:
            self.discard(key)

    def make_durable(self, keys: list[str]) -> None:  # noqa: B027 - an optional hook, a no-op by default
        """Wait until the objects committed under ``keys`` (and their names) survive a power cut.

        Call it after the last ``commit`` of a save and before the database commit that makes the
        records visible. Cloud storage: nothing to do (an object exists once its PUT or copy
        succeeded). A local folder: one ``syncfs`` for any number of keys.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove a stored object; StorageNotFoundError (a FileNotFoundError) if there is none."""

    @abstractmethod
    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        """Open the object as a file (``"rb"``, ``"r"``, ``"wb"``, ``"w"``)."""

    @abstractmethod
    def stage(self, key: str, expected: HashResult | None = None) -> Path:
        """A local path holding the object's data (cloud: a verified, reused cache copy)."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of the stored objects whose key starts with ``prefix``, sorted by key."""
