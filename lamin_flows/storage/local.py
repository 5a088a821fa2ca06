"""A storage root that is a local (or network-mounted) folder.

Temporary keys live in ``<root>/.lamindb/_tmp/``, on the same filesystem as every final key, so
committing is a rename: ``os.link`` + ``unlink`` to never clobber, ``os.replace`` to overwrite.
Files are created with the process umask.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from lamin_flows.errors import (
    InvalidKeyError,
    KeyConflictError,
    StorageError,
    StorageFullError,
    StorageNotFoundError,
    StoragePermissionError,
)
from lamin_flows.storage.base import Staged, StorageBackend, check_temp_key, new_temp_key, source_path
from lamin_flows.storage.durable import sync_file, sync_filesystem, sync_folder
from lamin_flows.storage.hashing import HashResult, copy_with_hash, hash_file
from lamin_flows.storage.keys import TMP_PREFIX, validate_key

# errors of os.link on filesystems without hard links (FAT, some SMB/FUSE mounts)
_NO_HARDLINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}
# errors of writing into the storage folder that the user must fix there, not in their data
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
# make_durable: up to this many folders are fsync-ed one by one (a flush each); more, one syncfs
FOLDER_SYNC_LIMIT = 16


class LocalBackend(StorageBackend):
    """A folder used as storage root.

    Args:
        root: An absolute, resolved folder path (see :func:`~lamin_flows.storage.root_of`).

    Example:
        >>> backend = get_backend("/data/store")  # doctest: +SKIP
        >>> backend.path("a/b.csv")  # doctest: +SKIP
        PosixPath('/data/store/a/b.csv')
    """

    protocol = "local"
    parallel_io = False

    def __init__(self, root: str) -> None:
        self.root = root
        self._root = Path(root)
        self._tmp_dir = os.path.join(root, TMP_PREFIX)
        self._inside_folder = root  # the last folder found to lie inside the root (bulk saves share folders)

    def relative_key(self, path_or_url: str | os.PathLike[str]) -> str | None:
        """The key of a path inside this root, else None.

        Example:
            >>> get_backend("/data/store").relative_key("/data/store/a/b.csv")  # doctest: +SKIP
            'a/b.csv'
        """
        text = os.fspath(path_or_url)
        if text.startswith("file://"):
            text = text[len("file://") :]
        elif "://" in text:
            return None
        path = Path(text).expanduser()
        # the path as written first (a symlink inside the root stays a key), then resolved
        for candidate in (Path(os.path.normpath(path.absolute())), path.resolve()):
            try:
                relative = candidate.relative_to(self._root)
            except ValueError:
                continue
            if relative.parts:
                written = relative.as_posix()
                key = validate_key(written)
                if key != written:  # NFC changed the name: on this filesystem the key names another file
                    raise InvalidKeyError(
                        f"Cannot register {text!r} in place: its name is not in Unicode NFC form, which"
                        f" storage keys use ({key!r}). Rename the file to its NFC form (e.g. `convmv --nfc`),"
                        " or copy it in with ln.File(path, key=...)."
                    )
                return key
        return None

    def path(self, key: str) -> Path:
        """The local path of ``key``."""
        return self._root / validate_key(key)

    def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""
        return self.path(key).is_file()

    def _existing(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise StorageNotFoundError(f"No object under key {key!r} in storage {self.root!r} (looked at {path}).")
        return path

    def info(self, key: str) -> HashResult:
        """Size and hash of the stored file (hashed now, in full)."""
        return hash_file(self._existing(key))

    def folders(self, prefix: str = "") -> list[str]:
        """The folders right below ``prefix`` (symbolic links are not followed), sorted."""
        start = self._root / validate_key(prefix.rstrip("/")) if prefix else self._root
        try:
            return sorted(e.name for e in os.scandir(start) if e.is_dir(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def size(self, key: str) -> int:
        """The stored file's size (a ``stat``; StorageNotFoundError if there is none)."""
        return self._existing(key).stat().st_size

    def _new_temp(self, name: str = "", *, kind: str = "", suffix: str = "") -> tuple[str, Path]:
        key = new_temp_key(name, kind=kind, suffix=suffix)
        os.makedirs(self._tmp_dir, exist_ok=True)
        return key, self._root / key

    def stage_in(self, src: str | os.PathLike[str]) -> Staged:
        """Copy a local file into the temporary area, hashing it in the same pass.

        The copy is on disk (``fdatasync``) when this returns, so no later step can make a record
        point to data that a power cut would lose. A full disk, a read-only or forbidden folder
        raise :class:`StorageFullError` / :class:`StoragePermissionError` naming ``src``, and
        leave no temporary file.

        Example:
            >>> backend.stage_in("table.csv")  # doctest: +SKIP
            Staged(temp_key='.lamindb/_tmp/3f9c...-table.csv', size=12, hash='...', hash_type='md5')
        """
        return self._stage(src, durable=True)

    def _stage_in_one_of_many(self, src: str | os.PathLike[str]) -> Staged:
        return self._stage(src, durable=False)  # made durable together, by _staged_many

    def _staged_many(self, staged: list[Staged]) -> None:
        # one syncfs for the whole batch: ~50 ms for 300 small files where 300 fdatasyncs took 435 ms
        if staged:
            with self._write_errors(f"{len(staged)} files"):
                sync_filesystem(self._tmp_dir)

    def make_durable(self, keys: list[str]) -> None:
        """Make the names of committed files (hard links, renames, new folders) durable.

        Their data is on disk already (staging ends with ``fdatasync`` or one ``syncfs``); what a
        power cut could still lose are the folder entries. A few folders are ``fsync``-ed one by
        one, each key's folder and the folders above it up to the root (the save may have created
        them): that flushes only this save's metadata. Past :data:`FOLDER_SYNC_LIMIT` folders, one
        ``syncfs`` of the filesystem is cheaper than a flush per folder.

        Example:
            >>> backend.make_durable(["a/b.csv", "a/c.csv"])  # doctest: +SKIP
        """
        if not keys:
            return
        folders: set[str] = set()
        for key in keys:
            folder = os.path.dirname(key)
            while folder not in folders:
                folders.add(folder)
                if not folder:
                    break
                folder = os.path.dirname(folder)
            if len(folders) > FOLDER_SYNC_LIMIT:
                break
        with self._write_errors(f"{len(keys)} files"):
            if len(folders) > FOLDER_SYNC_LIMIT:
                sync_filesystem(self.root)
                return
            for folder in sorted(folders, key=len, reverse=True):  # deepest first, the root last
                sync_folder(os.path.join(self.root, folder) if folder else self.root)

    def _stage(self, src: str | os.PathLike[str], *, durable: bool) -> Staged:
        source = source_path(src)
        key = new_temp_key(os.path.basename(source))
        target = os.path.join(self.root, key)  # strings: this runs once per file
        with self._write_errors(repr(source)):
            try:
                result = copy_with_hash(source, target, durable=durable)  # removes a partial copy itself
            except FileNotFoundError:
                if not os.path.exists(source):
                    raise
                # the temporary folder is made here, on first need, rather than checked for every file
                # (and another thread may have made it since our open failed: retry either way)
                os.makedirs(self._tmp_dir, exist_ok=True)
                result = copy_with_hash(source, target, durable=durable)
        return Staged(key, result.size, result.hash, result.hash_type)

    @contextmanager
    def _write_errors(self, what: str) -> Iterator[None]:
        """A full disk or a read-only/forbidden storage folder as our errors, naming the user's file."""
        try:
            yield
        except OSError as error:
            if isinstance(error, StorageError) or error.errno not in _WRITE_ERRORS:
                raise
            if (
                error.errno in (errno.EACCES, errno.EPERM)
                and error.filename is not None
                and not os.fspath(error.filename).startswith(self.root)
            ):
                raise  # the user's own file cannot be read: the builtin PermissionError names it
            kind: type[StorageError]
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                problem, fix, kind = "the disk is full", "free space there (or raise the quota)", StorageFullError
            elif error.errno == errno.EROFS:
                problem, fix, kind = "the filesystem is read-only", "mount it writable", StoragePermissionError
            else:
                problem, fix, kind = (
                    "writing there is not permitted",
                    "give this user write access to it",
                    StoragePermissionError,
                )
            translated = kind(
                f"Cannot store {what} in storage {self.root!r}: {problem}. Nothing was stored;"
                f" {fix}, then store it again."
            )
            translated.errno = error.errno
            raise translated from error

    def write_temp(self, writer: Callable[[Path], None], suffix: str) -> Staged:
        """Let ``writer`` write straight into the temporary area, then hash the result (on disk on return).

        Example:
            >>> backend.write_temp(lambda p: df.to_parquet(p), ".parquet")  # doctest: +SKIP
        """
        with self._write_errors(f"the new {suffix or 'object'} file"):
            key, path = self._new_temp(suffix=suffix)
        try:
            with self._write_errors(f"the new {suffix or 'object'} file"):
                writer(path)
                with open(path, "rb") as written:
                    sync_file(written.fileno())
            result = hash_file(path)
        except BaseException:
            with suppress(OSError):  # a read-only filesystem refuses even this: the first error is the one to raise
                path.unlink(missing_ok=True)
            raise
        return Staged(key, result.size, result.hash, result.hash_type)

    def commit(
        self,
        temp_key: str,
        final_key: str,
        *,
        overwrite: bool = False,
        keep_temp: bool = False,
        size: int | None = None,
    ) -> str | None:
        """Move a staged file to ``final_key``.

        Args:
            temp_key: The staged key.
            final_key: Where the file goes.
            overwrite: Replace an existing file (keeping it under a backup key) instead of refusing.
            keep_temp: Leave the staged file in place too (a second name of the same data), so a caller
                whose metadata commit fails can delete the final file and retry from the staged one.
            size: Not needed here (a rename does not copy).

        Returns:
            The backup key of the replaced file, or None if nothing was replaced.

        Raises:
            KeyConflictError: (a FileExistsError) ``final_key`` exists and ``overwrite`` is False.
            StorageNotFoundError: ``temp_key`` does not exist.

        Example:
            >>> backend.commit(staged.temp_key, "data/table.csv")  # doctest: +SKIP
        """
        with self._write_errors(f"key {final_key!r}"):  # a full disk or read-only folder: ours, naming the key
            if not overwrite:  # the bulk path (every copied-in file of a save): strings, no extra system calls
                temp_key = check_temp_key(temp_key)
                temp_path = os.path.join(self.root, temp_key)
                final_path = os.path.join(self.root, validate_key(final_key))
                self._check_inside(final_path, final_key)
                try:
                    self._link_no_clobber(temp_path, final_path, final_key, keep_temp)
                except (FileNotFoundError, NotADirectoryError):
                    self._existing(temp_key)  # the staged file is gone: StorageNotFoundError
                    self._make_parent(Path(final_path), final_key)  # a folder of the key is a file: KeyConflictError
                    self._link_no_clobber(temp_path, final_path, final_key, keep_temp)  # its folder was missing
                if not keep_temp:
                    with suppress(FileNotFoundError):  # moved, not linked, where there are no hard links
                        os.unlink(temp_path)
                return None
            final = self.path(final_key)
            temp = self._existing(check_temp_key(temp_key))
            self._check_inside(str(final), final_key)
            self._make_parent(final, final_key)
            backup_key: str | None = None
            if final.is_file():
                backup_key, backup = self._new_temp(final.name, kind="backup")
                self._keep_copy(final, backup)
            if keep_temp:  # replace with a second name of the staged file, so the staged one stays
                _, incoming = self._new_temp(final.name, kind="incoming")
                self._keep_copy(temp, incoming)
                temp = incoming
            os.replace(temp, final)  # atomic: readers see the old or the new file, never none
            return backup_key

    def _check_inside(self, path: str, key: str, *, itself: bool = False) -> None:
        """Refuse to write or delete ``key`` if a symbolic link in its folders (or, with ``itself``, the
        file) leads out of the root: a link in storage must never make a save write elsewhere."""
        folder = path if itself else os.path.dirname(path)
        if folder == self._inside_folder:
            return
        real = os.path.realpath(folder)
        if real == self.root or real.startswith(self.root.rstrip("/") + "/"):
            if not itself:
                self._inside_folder = folder
            return
        link = next(
            (
                p
                for p in (os.path.join(self.root, *key.split("/")[: i + 1]) for i in range(key.count("/") + 1))
                if os.path.islink(p)
            ),
            folder,
        )
        raise StoragePermissionError(
            f"Cannot write key {key!r} in storage {self.root!r}: {link!r} is a symbolic link to"
            f" {os.path.realpath(link)!r}, outside the storage. Nothing was written or deleted. Remove the"
            " link, or choose a key that does not go through it."
        )

    def _make_parent(self, final: Path, final_key: str) -> None:
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as error:  # a folder of the key is a file
            raise KeyConflictError(
                f"Key {final_key!r} cannot be stored in {self.root!r}: one of its folders is already a file."
                " Choose another key."
            ) from error

    def _link_no_clobber(self, temp: str, final: str, final_key: str, keep_temp: bool) -> None:
        try:
            os.link(temp, final)  # fails if final exists, atomically
        except FileExistsError as error:
            raise self._conflict(final_key) from error
        except OSError as error:
            if error.errno not in _NO_HARDLINKS:
                raise
            # no hard links here: check, then copy or rename, with a small race window in between
            # (a missing folder of the key fails the copy, and commit() makes it and retries)
            if os.path.exists(final):
                raise self._conflict(final_key) from error
            if keep_temp:
                shutil.copyfile(temp, final)
            else:
                shutil.move(temp, final)

    def _conflict(self, final_key: str) -> KeyConflictError:
        return KeyConflictError(
            f"Key {final_key!r} already holds a file in storage {self.root!r}."
            " Choose another key, or replace the file (File.replace) to overwrite it."
        )

    @staticmethod
    def _keep_copy(final: Path, backup: Path) -> None:
        try:
            os.link(final, backup)  # no copying: the backup shares the old file's data
        except OSError as error:
            if error.errno not in _NO_HARDLINKS:
                raise
            shutil.copy2(final, backup)

    def link(self, from_key: str, to_key: str) -> None:
        """Hard-link ``to_key`` to ``from_key``'s file (a copy where links are not possible); no-clobber."""
        source = self._existing(validate_key(from_key))
        target = self.path(validate_key(to_key))
        self._make_parent(target, to_key)
        try:
            os.link(source, target)
        except FileExistsError as error:
            raise self._conflict(to_key) from error
        except OSError as error:
            if error.errno not in _NO_HARDLINKS:
                raise
            if target.exists():
                raise self._conflict(to_key) from error
            shutil.copyfile(source, target)

    def copy_over(self, from_key: str, to_key: str) -> None:
        """Replace ``to_key`` with a second name of ``from_key``'s file, in one atomic rename."""
        source = self._existing(validate_key(from_key))
        target = self.path(validate_key(to_key))
        self._make_parent(target, to_key)
        _, incoming = self._new_temp(target.name, kind="incoming")
        self._keep_copy(source, incoming)
        try:
            os.replace(incoming, target)
        except BaseException:
            incoming.unlink(missing_ok=True)
            raise

    def restore(self, backup_key: str, final_key: str) -> None:
        """Put a backup made by ``commit(..., overwrite=True)`` back under ``final_key``."""
        final = self.path(final_key)
        backup = self._existing(check_temp_key(backup_key))
        self._check_inside(str(final), final_key)
        self._make_parent(final, final_key)
        os.replace(backup, final)

    def discard(self, temp_key: str) -> None:
        """Remove a temporary or backup file; nothing happens if it is gone already."""
        try:
            os.unlink(os.path.join(self.root, check_temp_key(temp_key)))
        except FileNotFoundError:
            pass

    def delete(self, key: str) -> None:
        """Remove a stored file.

        Raises:
            StorageNotFoundError: Nothing is stored under ``key``.
        """
        path = self.path(key)
        self._check_inside(str(path), key)
        try:
            path.unlink()
        except FileNotFoundError as error:
            raise StorageNotFoundError(f"No object under key {key!r} in storage {self.root!r} to delete.") from error

    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        """Open the stored file; writing modes create missing parent folders."""
        path = self.path(key)
        if any(flag in mode for flag in "wax+"):
            self._check_inside(str(path), key, itself=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            return open(path, mode)
        return open(self._existing(key), mode)

    def stage(self, key: str, expected: HashResult | None = None) -> Path:
        """The file itself: local data needs no copy (``expected`` is not checked, to avoid re-hashing)."""
        return self._existing(key)

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of files whose key starts with ``prefix``, sorted; the temporary area is
        skipped unless ``prefix`` points into it.

        Example:
            >>> list(backend.list("data/"))  # doctest: +SKIP
            [('data/a.csv', 12), ('data/b.csv', 40)]
        """
        folder = prefix.rpartition("/")[0]
        start = self._root / validate_key(folder) if folder else self._root
        skip_temp = not prefix.startswith(TMP_PREFIX)
        found: list[tuple[str, int]] = []
        for dirpath, dirnames, filenames in os.walk(start):
            base = Path(dirpath).relative_to(self._root).as_posix()
            base = "" if base == "." else base + "/"
            if skip_temp and base.startswith(TMP_PREFIX):
                dirnames.clear()
                continue
            for name in filenames:
                key = base + name
                if key.startswith(prefix):
                    try:
                        found.append((key, os.stat(os.path.join(dirpath, name)).st_size))
                    except FileNotFoundError:  # removed while listing
                        pass
        yield from sorted(found)
