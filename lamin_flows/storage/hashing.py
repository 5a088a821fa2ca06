"""Content hashes of files: pure functions that return size, hash and hash type.

Two schemes, chosen by size, so a file is always hashed in full and never sampled:

* below ``settings.large_file_threshold`` (16 MiB): **MD5** of the whole content,
  ``hash_type="md5"``. It matches the ETag S3 gives a single-part upload, so a cloud object's hash
  is known without downloading it. MD5 runs at ~600 MB/s on one core, which is nothing at this size.
* from the threshold up: **BLAKE3** (package ``blake3``, all cores, 4 MiB reads),
  ``hash_type="blake3"``. It hashes 1 GiB in ~0.2 s where MD5 takes ~1.5 s, so large files are
  hashed completely instead of being sampled, and a changed byte anywhere changes the hash.

Both digests are truncated/encoded the same way: 16 bytes, base64url without padding, 22
characters. The File record stores ``hash_type`` next to the hash, so the scheme can change later
without migrating old records.

Example:
    >>> from lamin_flows.storage import hash_bytes
    >>> hash_bytes(b"hello")
    HashResult(size=5, hash='XUFAKrxLKna5cZ2REBfFkg', hash_type='md5')
"""

from __future__ import annotations

import base64
import errno
import hashlib
import mmap
import os
import queue
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lamin_flows._parallel import map_adaptive
from lamin_flows._progress import progress
from lamin_flows.config import get_settings
from lamin_flows.errors import MissingDependencyError, SourceChangedError, StorageError
from lamin_flows.storage.durable import start_writeback, sync_file

CHUNK = 1024 * 1024  # big enough that per-call overhead vanishes, small enough for the CPU cache
# reads of large files into one reused buffer. Measured on 1 GiB (2 cores, busy; medians of 9, taking
# turns): update_mmap 0.64 s, 2 MiB reads 0.66 s, 4 MiB 0.57 s, 16 MiB 0.94 s: 4 MiB still splits
# over BLAKE3's threads and stays in the CPU's cache between the read and the hash
READ_CHUNK = 4 * CHUNK
WRITEBACK_CHUNK = 64 * CHUNK  # durable copies: the disk starts writing each 64 MiB as it is copied
DIGEST_BYTES = 16  # 128 bits: as strong as MD5's full digest, 22 characters in base64url


@dataclass(frozen=True)
class HashResult:
    """Size and content hash of one file or object.

    Attributes:
        size: Number of bytes.
        hash: Digest, base64url without padding ("md5", "blake3"), or the S3 ETag ("md5-n").
        hash_type: "md5", "blake3" or "md5-n" (an S3 multipart ETag, see StorageBackend.info).

    Example:
        >>> HashResult(size=5, hash="XUFAKrxLKna5cZ2REBfFkg", hash_type="md5").hash_type
        'md5'
    """

    size: int
    hash: str
    hash_type: str


class _Digest(Protocol):
    def update(self, data: Any, /) -> Any: ...
    def digest(self) -> bytes: ...


def b64(digest: bytes) -> str:
    """Encode a digest as base64url without padding (how every hash in lamin_flows is written).

    Example:
        >>> b64(bytes(16))
        'AAAAAAAAAAAAAAAAAAAAAA'
    """
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def is_large(size: int) -> bool:
    """Whether a file of ``size`` bytes is hashed with BLAKE3 rather than MD5."""
    return size >= get_settings().large_file_threshold


def _blake3() -> _Digest:
    try:
        import blake3
    except ImportError as error:
        raise MissingDependencyError(
            "Hashing files of 16 MiB and more needs the package 'blake3': pip install blake3"
        ) from error
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


class IncrementalHash:
    """A hasher for data that arrives in chunks (uploads, downloads), using the scheme for ``size``.

    Args:
        size: The total number of bytes that will be fed; it picks MD5 or BLAKE3.
        hash_type: Force "md5" or "blake3" instead of choosing by size.

    Example:
        >>> h = IncrementalHash(5)
        >>> h.update(b"hel"); h.update(b"lo")
        >>> h.result()
        HashResult(size=5, hash='XUFAKrxLKna5cZ2REBfFkg', hash_type='md5')
    """

    def __init__(self, size: int, hash_type: str | None = None) -> None:
        self.hash_type = hash_type or ("blake3" if is_large(size) else "md5")
        if self.hash_type not in ("md5", "blake3"):
            raise ValueError(f"Cannot compute hash type {self.hash_type!r} from content; use 'md5' or 'blake3'.")
        self._digest: _Digest = _blake3() if self.hash_type == "blake3" else hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed the next chunk."""
        self._digest.update(data)
        self.size += len(data)

    def result(self) -> HashResult:
        """The size and hash of everything fed so far."""
        return HashResult(self.size, b64(self._digest.digest()[:DIGEST_BYTES]), self.hash_type)


def hash_bytes(data: bytes) -> HashResult:
    """Hash bytes in memory exactly as :func:`hash_file` would hash a file holding them.

    Args:
        data: The content.

    Returns:
        Size, hash and hash type.

    Example:
        >>> hash_bytes(b"").hash
        '1B2M2Y8AsgTpgAmY7PhCfg'
    """
    hasher = IncrementalHash(len(data))
    hasher.update(data)
    return hasher.result()


def hash_file(path: str | os.PathLike[str]) -> HashResult:
    """Hash a local file: MD5 below the large-file threshold, multi-threaded BLAKE3 above.

    Args:
        path: A local file.

    Returns:
        Size, 22-character base64url hash and hash type ("md5" or "blake3").

    Raises:
        FileNotFoundError: The file does not exist.

    Example:
        >>> hash_file("table.csv")  # doctest: +SKIP
        HashResult(size=1523, hash='8UUWzDsWJ6Hq5eTEaozk1g', hash_type='md5')
    """
    return hash_file_as(path, None)


def hash_file_as(path: str | os.PathLike[str], hash_type: str | None) -> HashResult:
    """Like :func:`hash_file`, but with ``hash_type`` ("md5" or "blake3") forced, e.g. to check a
    file against a hash that was computed with the other scheme.

    The file is read with ``read`` calls, never memory-mapped: a file truncated while it is hashed
    gives short reads (and :class:`SourceChangedError`), not a SIGBUS that kills the process.

    Raises:
        FileNotFoundError: The file does not exist.
        SourceChangedError: The file's size or modification time changed while it was read.

    Example:
        >>> hash_file_as("big.bin", "md5").hash_type  # doctest: +SKIP
        'md5'
    """
    with open(path, "rb", buffering=0) as file:
        before = os.fstat(file.fileno())
        size = before.st_size
        hasher = IncrementalHash(size, hash_type)
        if size < CHUNK:
            # a small file in one read (+1 byte notices a file that grew): registering thousands of
            # small files is bound by system calls, not by hashing
            hasher.update(file.read(size + 1))
        else:
            _hash_fd(file.fileno(), hasher, size)
        check_unchanged(path, before, hasher.size, os.fstat(file.fileno()), "hashed")
    return hasher.result()


def check_unchanged(
    path: str | os.PathLike[str], before: os.stat_result, read: int, after: os.stat_result, doing: str
) -> None:
    """Raise :class:`SourceChangedError` unless ``path`` kept its size and mtime and ``read`` bytes were read."""
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or read != before.st_size:
        raise SourceChangedError(
            f"{os.fspath(path)!r} changed while it was being {doing} (size {before.st_size} -> {after.st_size}"
            f" bytes, {read} bytes read): another program is writing it. Nothing was registered;"
            " register it again once it is complete."
        )


def _hash_fd(fd: int, hasher: IncrementalHash, size: int, offset: int = 0) -> None:
    """Feed the content of ``fd`` from ``offset`` to its end into ``hasher``, with ``pread`` (the fd's
    position is left alone, so another thread may copy from it meanwhile) into one reused buffer.

    BLAKE3 hashes each 4 MiB read on all cores (its ``max_threads``); a read that returns nothing
    before ``size`` bytes means the file shrank, which the caller reports.
    """
    buffer = memoryview(bytearray(READ_CHUNK if hasher.hash_type == "blake3" else CHUNK))
    with suppress(OSError, AttributeError):  # a hint only; not every filesystem or OS has it
        os.posix_fadvise(fd, offset, 0, os.POSIX_FADV_SEQUENTIAL)
    while True:
        n = os.preadv(fd, [buffer], offset)
        if n == 0:
            return
        hasher.update(buffer[:n])
        offset += n


SLOW_FILE_S = 0.0005  # files taking longer on average (large files, network filesystems) go to threads


def hash_many(paths: list[str | os.PathLike[str]]) -> list[HashResult]:
    """Hash many local files, on ``settings.workers`` threads where that pays off, with a progress bar.

    Small files on a local disk take ~10 µs each and are hashed in this thread: on a thread pool
    they mostly hand the GIL to each other (10,000 files of 1 KiB: 245 ms on 8 threads, 118 ms on
    one). Once files take longer on average (large files, whose hashing releases the GIL, or a
    network filesystem, whose waits overlap), the rest goes to the pool.

    Args:
        paths: Local files.

    Returns:
        One :class:`HashResult` per path, in the same order.

    Example:
        >>> [r.hash_type for r in hash_many(["a.csv", "b.csv"])]  # doctest: +SKIP
        ['md5', 'md5']
    """
    if len(paths) <= 1:
        return [hash_file(p) for p in paths]
    with progress("hashing", total=len(paths)) as advance:  # hashlib and blake3 release the GIL
        return map_adaptive(hash_file, paths, get_settings().workers, slow_s=SLOW_FILE_S, advance=advance)


def copy_with_hash(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, durable: bool = False) -> HashResult:
    """Copy a local file and hash it in the same pass.

    Small files are read once in chunks that go both to the hasher and to ``dst``. Large files
    are copied by the kernel (``copy_file_range``) in 64 MiB pieces while another thread hashes
    each piece of the *copy* with BLAKE3 as soon as it is written, memory-mapped: the bytes are
    in the page cache already and are hashed where they lie, without being copied once more into
    Python (which cost more than the hashing itself). The hash is therefore that of the bytes
    stored. The user's file is only ever read with system calls, never mapped: a source truncated
    meanwhile gives a short copy and :class:`SourceChangedError`, never a SIGBUS. Every write is
    checked: short writes are continued, and the copy's final size must equal the bytes read.
    On any failure ``dst`` is removed.

    Args:
        src: The local file to copy.
        dst: Where to write the copy (parent folder must exist; an existing file is overwritten).
        durable: Return only once the copy is on disk (``fdatasync``). Write-back of a large copy
            is started after every 64 MiB piece, so the final sync has little left to wait for.

    Returns:
        Size and hash of the copied content, equal to ``hash_file(dst)``.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        SourceChangedError: ``src`` changed while it was copied.
        StorageError: The copy does not have the size of the source (a filesystem that lost data).
        OSError: Writing failed (full disk, read-only filesystem); the backends translate these.

    Example:
        >>> copy_with_hash("big.h5ad", "/mnt/store/.lamindb/_tmp/x-big.h5ad")  # doctest: +SKIP
        HashResult(size=1073741824, hash='Yk1...', hash_type='blake3')
    """
    try:
        # the copy is opened for reading too: the hashing thread maps what was written
        with open(src, "rb", buffering=0) as source, open(dst, "w+b", buffering=0) as target:
            before = os.fstat(source.fileno())
            if is_large(before.st_size) and before.st_size > 0:
                result = _copy_large(source.fileno(), target.fileno(), before.st_size, durable)
            else:
                result = _copy_small(source, target.fileno(), before.st_size)
            check_unchanged(src, before, result.size, os.fstat(source.fileno()), "copied")
            written = os.fstat(target.fileno()).st_size
            if written != result.size:
                raise StorageError(
                    f"Copying {os.fspath(src)!r} wrote {written} of {result.size} bytes to {os.fspath(dst)!r}:"
                    " the storage's filesystem lost data. Check the disk, then register the file again."
                )
            if durable:
                sync_file(target.fileno())
        return result
    except BaseException:
        Path(dst).unlink(missing_ok=True)
        raise


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until every byte is written: a write may write fewer bytes than given."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n == 0:  # no error, no progress: never loop forever
            raise OSError(errno.EIO, "write wrote no bytes")
        view = view[n:]


def _copy_small(source: Any, dst_fd: int, size: int) -> HashResult:
    hasher = IncrementalHash(size)
    for chunk in iter(lambda: source.read(CHUNK), b""):
        hasher.update(chunk)
        write_all(dst_fd, chunk)
    return hasher.result()


def _copy_large(src_fd: int, dst_fd: int, size: int, durable: bool = False) -> HashResult:
    """Copy with the kernel in pieces; a thread hashes each piece of the copy once it is written."""
    hasher = IncrementalHash(size)
    failure: list[BaseException] = []
    copied_to: queue.SimpleQueue[int | None] = queue.SimpleQueue()  # "the copy is complete up to this offset"

    def hash_copy() -> None:
        hashed = 0
        try:
            while (end := copied_to.get()) is not None:
                if end > hashed:
                    _hash_written(dst_fd, hasher, hashed, end)
                    if durable:  # here, not in the copying thread: submitting the writes can block
                        start_writeback(dst_fd, hashed, end - hashed)
                    hashed = end
        except BaseException as error:  # re-raised in the caller's thread  # noqa: BLE001
            failure.append(error)
            while copied_to.get() is not None:  # let the copy finish; its file is removed
                pass

    thread = threading.Thread(target=hash_copy, name="lamin-hash", daemon=True)
    thread.start()
    try:
        _kernel_copy(src_fd, dst_fd, size, WRITEBACK_CHUNK, copied_to.put)
    finally:
        copied_to.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return hasher.result()


def _hash_written(fd: int, hasher: IncrementalHash, start: int, end: int) -> None:
    """Feed bytes ``start`` to ``end`` of the copy ``fd`` into ``hasher``, hashed where they lie in the page cache.

    The map starts at the page below ``start`` (mmap offsets are page-aligned); ``MAP_POPULATE`` maps
    the cached pages in one go instead of one page fault per 64 KiB. A filesystem that cannot map
    files is read with ``pread`` instead.
    """
    aligned = start - start % mmap.ALLOCATIONGRANULARITY
    try:
        view = mmap.mmap(
            fd,
            end - aligned,
            flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
            prot=mmap.PROT_READ,
            offset=aligned,
        )
    except (OSError, ValueError):
        _hash_fd(fd, hasher, end, start)
        return
    with view, memoryview(view) as data:
        hasher.update(data[start - aligned :])


def _kernel_copy(
    src_fd: int,
    dst_fd: int,
    size: int,
    piece: int = 1 << 30,
    done: Callable[[int], None] | None = None,
) -> int:
    """Copy without moving the data through Python: copy_file_range, else sendfile, else read/write.

    All three advance the file positions, so a method that gives up midway hands over cleanly.
    ``done(offset)`` is called whenever the copy is complete up to ``offset`` (every ``piece``
    bytes at least).
    Returns the number of bytes copied (fewer than ``size`` if the source shrank).
    """
    copied = 0
    for method in ("copy_file_range", "sendfile"):
        call = getattr(os, method, None)
        if call is None:
            continue
        try:
            while copied < size:
                count = min(size - copied, piece)
                n = call(src_fd, dst_fd, count) if method == "copy_file_range" else call(dst_fd, src_fd, None, count)
                if n == 0:  # end of file: the source shrank, which the caller detects
                    return copied
                copied += n
                if done is not None:
                    done(copied)
            return copied
        except OSError as error:  # not supported between these filesystems: try the next way
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise
    reported = copied
    while chunk := os.read(src_fd, CHUNK):
        write_all(dst_fd, chunk)
        copied += len(chunk)
        if done is not None and copied - reported >= piece:
            done(copied)
            reported = copied
    if done is not None:
        done(copied)
    return copied
