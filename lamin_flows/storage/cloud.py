"""One backend for every fsspec protocol: ``s3://`` (s3fs), ``gs://`` (gcsfs), ``memory://``, ...

fsspec and the protocol's package are imported when the first backend of that protocol is made.
Credentials and endpoint come from the usual environment of the provider (for S3: AWS_PROFILE,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...) plus ``storage_options``; they are
never logged and never part of ``repr``.

Writes never go straight to a final key: uploads stream into a temporary key (multipart for large
files) while being hashed, and ``commit`` copies server-side into place. Object stores have no
atomic no-clobber rename, so ``commit(overwrite=False)`` checks, then copies: two writers racing
for the same new key within milliseconds can both succeed (the last one wins). Every read of
state (``exists``, ``info``, ``list``) drops fsspec's listing cache first, so it sees writes made
by this and other processes.
"""

from __future__ import annotations

import base64
import builtins
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import IO, Any, cast

from lamin_flows.config import get_settings
from lamin_flows.errors import KeyConflictError, StorageError, StorageNotFoundError
from lamin_flows.storage import cache
from lamin_flows.storage.base import Staged, StorageBackend, check_source, check_temp_key, new_temp_key
from lamin_flows.storage.fsspec_support import BUCKETED, abandon, etag_hash, load_filesystem, translated_errors
from lamin_flows.storage.hashing import CHUNK, HashResult, IncrementalHash, b64, hash_file, hash_file_as, is_large
from lamin_flows.storage.keys import TMP_PREFIX, validate_key

_UPLOAD_CHUNK = 8 * CHUNK  # large enough for BLAKE3 to spread over all cores
_BASIC_COPY_MAX = 150 * 2**20  # s3fs copies larger objects in parts (its MANAGED_COPY_THRESHOLD)


class FsspecBackend(StorageBackend):
    """A bucket (and prefix) in cloud storage, or any other fsspec filesystem.

    Args:
        root: ``protocol://bucket/prefix`` as :func:`~lamin_flows.storage.root_of` returns it.
        storage_options: Keyword arguments for the fsspec filesystem (e.g. ``{"profile": "lab"}``).

    Example:
        >>> backend = get_backend("s3://my-bucket/project")  # doctest: +SKIP
        >>> backend.path("data/x.csv")  # doctest: +SKIP
        's3://my-bucket/project/data/x.csv'
    """

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root
        self.protocol, _, rest = root.partition("://")
        self.bucket = rest.split("/", 1)[0]
        self._fs = load_filesystem(self.protocol, storage_options)
        self._base = self._fs._strip_protocol(root).rstrip("/")

    # --- addressing -------------------------------------------------------------------------

    def _fs_path(self, key: str) -> str:
        return f"{self._base}/{validate_key(key)}"

    def relative_key(self, path_or_url: str | os.PathLike[str]) -> str | None:
        """The key of a URL inside this root, else None.

        Example:
            >>> get_backend("s3://b/p").relative_key("s3://b/p/x/y.csv")  # doctest: +SKIP
            'x/y.csv'
        """
        text = os.fspath(path_or_url)
        protocol, sep, _ = text.partition("://")
        if not sep or protocol.lower() != self.protocol or text.endswith("/"):  # a trailing "/" names a folder
            return None
        inner = self._fs._strip_protocol(text)
        if not inner.startswith(self._base + "/"):
            return None
        return validate_key(inner[len(self._base) + 1 :])

    def path(self, key: str) -> str:
        """The URL of ``key``, e.g. ``s3://bucket/prefix/key``."""
        return f"{self.root}/{validate_key(key)}"

    def _errors(self, key: str | None = None) -> Any:
        """Provider errors inside the block become ours, naming the bucket and what to check."""
        return translated_errors(self.root, self.protocol, self.bucket, key, self._bucket_exists)

    def _bucket_exists(self) -> bool:
        self._fs.invalidate_cache(self.bucket)
        return bool(self._fs.exists(self.bucket))

    # --- reading state ----------------------------------------------------------------------

    def _head(self, key: str) -> dict[str, Any]:
        path = self._fs_path(key)
        self._fs.invalidate_cache(path)
        with self._errors(key):
            details: dict[str, Any] = self._fs.info(path)
        if details.get("type") != "file":
            raise StorageNotFoundError(f"No object under key {key!r} in storage {self.root!r} (it is a folder).")
        return details

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key`` (asks the server, never a cached listing)."""
        path = self._fs_path(key)
        self._fs.invalidate_cache(path)
        with self._errors(key):
            if self.protocol in ("s3", "s3a"):
                # one HEAD; fs.isfile would follow a miss with a listing to look for a folder
                bucket, name, _ = self._fs.split_path(path)
                try:
                    self._fs.call_s3("head_object", Bucket=bucket, Key=name)
                except FileNotFoundError:
                    return False
                return True
            return bool(self._fs.isfile(path))

    def info(self, key: str) -> HashResult:
        """Size and hash from the object's metadata, without downloading it.

        S3: a plain-MD5 ETag gives ``hash_type="md5"`` (the digest re-encoded base64url, as
        :func:`hash_file` writes it); a multipart ETag ``"<hex>-<n>"`` gives ``hash_type="md5-n"``
        with the ETag (without quotes) as hash. GCS: the object's MD5. Other filesystems, and
        objects whose ETag is neither: the content is streamed and hashed like :func:`hash_file`.
        The hash type can therefore differ from the one computed when the file was stored.

        Example:
            >>> backend.info("data/x.csv")  # doctest: +SKIP
            HashResult(size=12, hash='sZRqySSS0jR8YjW00mERhA', hash_type='md5')
        """
        details = self._head(key)
        size = int(details.get("size") or 0)
        found = etag_hash(details.get("ETag") or details.get("etag"), size)
        if found is None and details.get("md5Hash"):
            found = HashResult(size, b64(base64.b64decode(details["md5Hash"])), "md5")
        return found or self._stream_hash(key, size)

    def folders(self, prefix: str = "") -> list[str]:
        """The prefixes right below ``prefix`` (one delimited listing), sorted."""
        base = f"{self._base}/{validate_key(prefix.rstrip('/'))}" if prefix else self._base
        self._fs.invalidate_cache(base)
        with self._errors(prefix or None):
            try:
                entries = self._fs.ls(base, detail=True)
            except FileNotFoundError:
                return []
        names = {str(e["name"]).rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "directory"}
        return sorted(names)

    def size(self, key: str) -> int:
        """The object's size, from its metadata (one HEAD)."""
        return int(self._head(key).get("size") or 0)

    def _stream_hash(self, key: str, size: int) -> HashResult:
        hasher = IncrementalHash(size)
        with self._errors(key), self._fs.open(self._fs_path(key), "rb") as file:
            while chunk := file.read(_UPLOAD_CHUNK):
                hasher.update(chunk)
        return hasher.result()

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of objects whose key starts with ``prefix``, sorted; temporary keys are skipped
        unless ``prefix`` points into :data:`TMP_PREFIX`.

        Example:
            >>> list(backend.list("data/"))  # doctest: +SKIP
            [('data/a.csv', 12)]
        """
        folder = prefix.rpartition("/")[0]
        base = f"{self._base}/{validate_key(folder)}" if folder else self._base
        self._fs.invalidate_cache(base)
        with self._errors(prefix or None):
            if self.protocol in BUCKETED and not folder:
                self._fs.info(self.bucket)  # find() on a missing bucket is silently empty: ask once
            found = self._fs.find(base, detail=True)
        skip_temp = not prefix.startswith(TMP_PREFIX)
        start = self._base.lstrip("/") + "/"
        for name in sorted(found):
            key = name.lstrip("/")[len(start) :]
            details = found[name]
            if details.get("type", "file") != "file" or not key.startswith(prefix):
                continue
            if skip_temp and key.startswith(TMP_PREFIX):
                continue
            yield key, int(details.get("size") or 0)

    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        """Open the object as a file-like object of the filesystem (``"rb"``, ``"r"``, ``"wb"``, ``"w"``)."""
        with self._errors(key):
            return cast(IO[Any], self._fs.open(self._fs_path(key), mode))

    # --- writing ----------------------------------------------------------------------------

    def _upload(self, source: Path, temp_key: str) -> HashResult:
        """Stream a local file into ``temp_key`` while hashing it; on failure nothing is left behind."""
        path = self._fs_path(temp_key)
        size = source.stat().st_size
        hasher = IncrementalHash(size)
        chunk_size = _UPLOAD_CHUNK if is_large(size) else CHUNK
        try:
            with self._errors(temp_key):
                target = self._fs.open(path, "wb")
                try:
                    for chunk in read_chunks(source, chunk_size):
                        hasher.update(chunk)
                        target.write(chunk)
                    target.close()  # completes the (multipart) upload
                except BaseException:
                    abandon(target)
                    raise
        except BaseException:
            with suppress(Exception):
                self._fs.rm(path)
            raise
        finally:
            self._fs.invalidate_cache(path)
        return hasher.result()

    def stage_in(self, src: str | os.PathLike[str]) -> Staged:
        """Upload a local file to a fresh temporary key, hashing it while uploading.

        Example:
            >>> backend.stage_in("table.csv")  # doctest: +SKIP
            Staged(temp_key='.lamindb/_tmp/3f9c...-table.csv', size=12, hash='...', hash_type='md5')
        """
        source = check_source(src)
        key = new_temp_key(source.name)
        result = self._upload(source, key)
        return Staged(key, result.size, result.hash, result.hash_type)

    def write_temp(self, writer: Callable[[Path], None], suffix: str) -> Staged:
        """Let ``writer`` write a file in a local temporary folder, then upload it to a temporary key.

        Example:
            >>> backend.write_temp(lambda p: df.to_parquet(p), ".parquet")  # doctest: +SKIP
        """
        scratch_root = get_settings().cache_root
        scratch_root.mkdir(parents=True, exist_ok=True)
        # inside the cache root, on the disk the user gave room for; "." names no bucket
        with tempfile.TemporaryDirectory(prefix=".lamin-write-", dir=scratch_root) as scratch:
            local = Path(scratch) / f"object{suffix}"
            writer(local)
            return self.stage_in(local)

    def commit(
        self,
        temp_key: str,
        final_key: str,
        *,
        overwrite: bool = False,
        keep_temp: bool = False,
        size: int | None = None,
    ) -> str | None:
        """Copy a staged object server-side to ``final_key``, then delete the temporary one.

        Args:
            temp_key: The staged key.
            final_key: Where the object goes.
            overwrite: Replace an existing object (after copying it to a backup key) instead of refusing.
            keep_temp: Leave the staged object in place too, so a caller whose metadata commit fails
                can delete the final object and retry from the staged one.
            size: The staged object's size, if known: on S3 an object below 150 MiB is then copied
                with one request, without asking for its size first.

        Returns:
            The backup key of the replaced object, or None if nothing was replaced.

        Raises:
            KeyConflictError: (a FileExistsError) ``final_key`` exists and ``overwrite`` is False.
            StorageNotFoundError: ``temp_key`` does not exist.
        """
        temp_key = check_temp_key(temp_key)
        final_key = validate_key(final_key)
        backup_key: str | None = None
        if self.exists(final_key):
            if not overwrite:
                raise KeyConflictError(
                    f"Key {final_key!r} already holds an object in storage {self.root!r}."
                    " Choose another key, or replace the file (File.replace) to overwrite it."
                )
            backup_key = new_temp_key(final_key.rpartition("/")[2], kind="backup")
            self._copy(final_key, backup_key)
        try:
            # a missing temp_key fails here (StorageNotFoundError), with no extra request up front;
            # a PUT replaces atomically: readers see the old or the new object
            self._copy(temp_key, final_key, size)
        except BaseException:
            if backup_key is not None:
                with suppress(Exception):
                    self.discard(backup_key)
            raise
        if not keep_temp:
            self.discard(temp_key)
        return backup_key

    def _copy(self, from_key: str, to_key: str, size: int | None = None) -> None:
        to_path = self._fs_path(to_key)
        with self._errors(from_key):
            if size is not None and size <= _BASIC_COPY_MAX and hasattr(self._fs, "_copy_basic"):
                # s3fs: one CopyObject; cp_file would first ask for the size (a HEAD per file)
                from fsspec.asyn import sync

                sync(self._fs.loop, self._fs._copy_basic, self._fs_path(from_key), to_path)
            else:
                # cp_file, not copy: copy() treats a destination that is also a "folder" (other keys
                # start with "<to_key>/") as a directory and copies *into* it, under another key
                self._fs.cp_file(self._fs_path(from_key), to_path)
        self._fs.invalidate_cache(to_path)

    def link(self, from_key: str, to_key: str) -> None:
        """Copy ``from_key`` to ``to_key`` server-side; refuse if ``to_key`` exists."""
        from_key, to_key = validate_key(from_key), validate_key(to_key)
        if self.exists(to_key):
            raise KeyConflictError(f"Key {to_key!r} already holds an object in storage {self.root!r}.")
        self._copy(from_key, to_key)

    def copy_over(self, from_key: str, to_key: str) -> None:
        """Copy ``from_key`` over ``to_key`` server-side (a PUT replaces atomically)."""
        self._copy(validate_key(from_key), validate_key(to_key))

    def restore(self, backup_key: str, final_key: str) -> None:
        """Put a backup made by ``commit(..., overwrite=True)`` back under ``final_key``."""
        backup_key = check_temp_key(backup_key)
        if not self.exists(backup_key):
            raise StorageNotFoundError(f"No backup under {backup_key!r} in storage {self.root!r}.")
        self._copy(backup_key, validate_key(final_key))
        self.discard(backup_key)

    def discard(self, temp_key: str) -> None:
        """Remove a temporary or backup object; nothing happens if it is gone already."""
        path = self._fs_path(check_temp_key(temp_key))
        with suppress(FileNotFoundError), self._errors(temp_key):
            self._fs.rm(path)
        self._fs.invalidate_cache(path)

    def discard_many(self, temp_keys: builtins.list[str]) -> None:  # `list` is the method above
        """Remove many temporary objects: s3fs deletes up to 1,000 keys per request."""
        if len(temp_keys) <= 1:
            super().discard_many(temp_keys)
            return
        paths = [self._fs_path(check_temp_key(key)) for key in temp_keys]
        with suppress(FileNotFoundError), self._errors(temp_keys[0]):
            self._fs.rm(paths)
        for path in paths:
            self._fs.invalidate_cache(path)

    def delete(self, key: str) -> None:
        """Remove a stored object.

        Raises:
            StorageNotFoundError: Nothing is stored under ``key``.
        """
        if not self.exists(key):
            raise StorageNotFoundError(f"No object under key {key!r} in storage {self.root!r} to delete.")
        path = self._fs_path(key)
        with self._errors(key):
            self._fs.rm(path)
        self._fs.invalidate_cache(path)

    # --- local copies -----------------------------------------------------------------------

    def stage(self, key: str, expected: HashResult | None = None) -> Path:
        """A local copy of the object in the cache, downloaded only when needed.

        With ``expected`` (the record's size and hash) a cached copy that still matches is returned
        without any network call; a changed hash or a damaged cache file means a new download. Without
        it, the object's metadata is fetched and the cached copy reused if size and ETag are unchanged.

        Args:
            key: The object's key.
            expected: The size and hash the record holds for it.

        Returns:
            The local path ``settings.cache_root / <bucket> / <prefix/key>``.

        Raises:
            StorageNotFoundError: No such object.
            StorageError: The downloaded object does not match ``expected`` (changed outside lamin_flows).

        Example:
            >>> backend.stage("data/x.csv", expected=record_hash)  # doctest: +SKIP
            PosixPath('/home/me/.lamin/cache/my-bucket/project/data/x.csv')
        """
        local = cache.cache_path(self._fs_path(key))
        if expected is not None and cache.is_fresh(local, expected):
            return local
        details = self._head(key)
        size, etag = int(details.get("size") or 0), details.get("ETag") or details.get("etag")
        if expected is None and cache.matches_remote(local, size, etag):
            return local
        self._download(key, local, size, etag, expected)
        return local

    def _download(self, key: str, local: Path, size: int, etag: str | None, expected: HashResult | None) -> None:
        part = cache.part_path(local)
        try:
            with self._errors(key):
                self._fs.get_file(self._fs_path(key), str(part))
            found = hash_file(part)
            hashes = {found.hash_type: found.hash}
            from_etag = etag_hash(etag, size) if found.size == size else None
            if from_etag is not None:
                hashes.setdefault(from_etag.hash_type, from_etag.hash)
            if expected is not None:
                if expected.hash_type not in hashes and expected.hash_type in ("md5", "blake3"):
                    hashes[expected.hash_type] = hash_file_as(part, expected.hash_type).hash
                if found.size != expected.size or hashes.get(expected.hash_type) != expected.hash:
                    raise StorageError(
                        f"The object {self.path(key)!r} does not match its record: expected {expected.size} bytes"
                        f" with {expected.hash_type} {expected.hash!r}, found {found.size} bytes with"
                        f" {expected.hash_type} {hashes.get(expected.hash_type)!r}. It was changed outside"
                        " lamin_flows: register the new content, or restore the original object."
                    )
            os.replace(part, local)
            cache.write_meta(local, hashes, etag)
        finally:
            part.unlink(missing_ok=True)


def read_chunks(source: Path, chunk_size: int) -> Iterator[bytes]:
    """The content of a local file in chunks (the one place uploads read their source)."""
    with open(source, "rb", buffering=0) as file:
        while chunk := file.read(chunk_size):
            yield chunk
