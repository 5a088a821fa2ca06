"""The contract every backend keeps (local folder, S3 on a moto server, fsspec memory)."""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from lamin_flows.errors import InvalidKeyError, KeyConflictError, StorageNotFoundError
from lamin_flows.storage import TMP_PREFIX, StorageBackend, hash_bytes, hash_file, load_path, write_object
from lamin_flows.storage import cloud as cloud_module

MakeFile = Callable[[str, bytes], Path]


def _read(backend: StorageBackend, key: str) -> bytes:
    with backend.open(key) as file:
        return file.read()


def _temp_keys(backend: StorageBackend) -> list[str]:
    return [key for key, _ in backend.list(TMP_PREFIX)]


def _store(backend: StorageBackend, make_file: MakeFile, key: str, data: bytes) -> None:
    staged = backend.stage_in(make_file(key.replace("/", "_"), data))
    assert backend.commit(staged.temp_key, key) is None


def test_stage_in_then_commit(backend: StorageBackend, make_file: MakeFile) -> None:
    src = make_file("table.csv", b"a,b\n1,2\n")
    staged = backend.stage_in(src)
    assert staged.temp_key.startswith(TMP_PREFIX) and staged.temp_key.endswith("table.csv")
    assert (staged.size, staged.hash, staged.hash_type) == tuple(hash_file(src).__dict__.values())
    assert backend.exists(staged.temp_key) and not backend.exists("data/table.csv")

    assert backend.commit(staged.temp_key, "data/table.csv") is None
    assert backend.exists("data/table.csv") and not backend.exists(staged.temp_key)
    assert _read(backend, "data/table.csv") == b"a,b\n1,2\n"
    assert backend.info("data/table.csv") == hash_file(src)
    assert _temp_keys(backend) == []


def test_large_file_is_hashed_with_blake3_while_staged(
    backend: StorageBackend, make_file: MakeFile, small_threshold: int
) -> None:
    data = os.urandom(small_threshold * 20)
    staged = backend.stage_in(make_file("big.bin", data))
    assert (staged.size, staged.hash, staged.hash_type) == (len(data), hash_bytes(data).hash, "blake3")
    backend.commit(staged.temp_key, "big.bin")
    assert _read(backend, "big.bin") == data


def test_commit_never_clobbers(backend: StorageBackend, make_file: MakeFile) -> None:
    _store(backend, make_file, "k.txt", b"old")
    staged = backend.stage_in(make_file("new.txt", b"new"))
    with pytest.raises(FileExistsError) as info:
        backend.commit(staged.temp_key, "k.txt")
    assert isinstance(info.value, KeyConflictError) and "'k.txt'" in str(info.value)
    assert _read(backend, "k.txt") == b"old"
    assert backend.exists(staged.temp_key)  # still staged: the caller decides
    backend.discard(staged.temp_key)
    assert _temp_keys(backend) == []


def test_overwrite_keeps_a_backup_that_restore_puts_back(backend: StorageBackend, make_file: MakeFile) -> None:
    _store(backend, make_file, "k.txt", b"old")
    staged = backend.stage_in(make_file("new.txt", b"new"))
    backup = backend.commit(staged.temp_key, "k.txt", overwrite=True)
    assert backup is not None and backup.startswith(TMP_PREFIX)
    assert _read(backend, "k.txt") == b"new" and _read(backend, backup) == b"old"

    backend.restore(backup, "k.txt")
    assert _read(backend, "k.txt") == b"old"
    assert _temp_keys(backend) == []


def test_overwrite_of_a_new_key_has_no_backup(backend: StorageBackend, make_file: MakeFile) -> None:
    staged = backend.stage_in(make_file("new.txt", b"new"))
    assert backend.commit(staged.temp_key, "fresh/k.txt", overwrite=True) is None
    assert _read(backend, "fresh/k.txt") == b"new"


def test_discard_is_idempotent_and_only_for_temporary_keys(backend: StorageBackend, make_file: MakeFile) -> None:
    staged = backend.stage_in(make_file("x.txt", b"x"))
    backend.discard(staged.temp_key)
    backend.discard(staged.temp_key)
    assert not backend.exists(staged.temp_key)
    _store(backend, make_file, "keep.txt", b"keep")
    with pytest.raises(InvalidKeyError, match="_tmp"):
        backend.discard("keep.txt")
    assert backend.exists("keep.txt")


def test_commit_of_a_missing_temp_key(backend: StorageBackend) -> None:
    with pytest.raises(StorageNotFoundError):
        backend.commit(TMP_PREFIX + "nothing-here", "k.txt")
    assert not backend.exists("k.txt")


def test_delete(backend: StorageBackend, make_file: MakeFile) -> None:
    _store(backend, make_file, "a/b.txt", b"x")
    backend.delete("a/b.txt")
    assert not backend.exists("a/b.txt")
    with pytest.raises(FileNotFoundError) as info:
        backend.delete("a/b.txt")
    assert isinstance(info.value, StorageNotFoundError) and "a/b.txt" in str(info.value)


def test_missing_objects(backend: StorageBackend) -> None:
    assert not backend.exists("nope.txt")
    for call in (lambda: backend.info("nope.txt"), lambda: backend.stage("nope.txt"), lambda: backend.open("nope.txt")):
        with pytest.raises(StorageNotFoundError):
            call()


def test_keys_are_validated(backend: StorageBackend) -> None:
    for call in (
        lambda: backend.exists("../x"),
        lambda: backend.path("/abs"),
        lambda: backend.commit(TMP_PREFIX + "a", "a/"),
    ):
        with pytest.raises(InvalidKeyError):
            call()


def test_list_by_prefix_skips_temporary_keys(backend: StorageBackend, make_file: MakeFile) -> None:
    for key, data in [("a/x.txt", b"1"), ("a/y.txt", b"22"), ("ab.txt", b"333"), ("b/z.txt", b"4444")]:
        _store(backend, make_file, key, data)
    staged = backend.stage_in(make_file("pending.txt", b"p"))
    assert list(backend.list()) == [("a/x.txt", 1), ("a/y.txt", 2), ("ab.txt", 3), ("b/z.txt", 4)]
    assert list(backend.list("a/")) == [("a/x.txt", 1), ("a/y.txt", 2)]
    assert list(backend.list("a")) == [("a/x.txt", 1), ("a/y.txt", 2), ("ab.txt", 3)]
    assert list(backend.list("a/y")) == [("a/y.txt", 2)]
    assert list(backend.list("c/")) == []
    assert _temp_keys(backend) == [staged.temp_key]


def test_open_for_writing_and_reading(backend: StorageBackend) -> None:
    with backend.open("notes/n.txt", "w") as file:
        file.write("hello")
    with backend.open("notes/n.txt", "r") as file:
        assert file.read() == "hello"
    assert backend.info("notes/n.txt") == hash_bytes(b"hello")


def test_stage_gives_a_local_copy(backend: StorageBackend, make_file: MakeFile) -> None:
    _store(backend, make_file, "d/t.txt", b"content")
    info = backend.info("d/t.txt")
    local = backend.stage("d/t.txt", info)
    assert isinstance(local, Path) and local.read_bytes() == b"content"
    assert backend.stage("d/t.txt") == local


def test_write_temp_with_a_dataframe(backend: StorageBackend) -> None:
    import pandas as pd

    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    staged = backend.write_temp(lambda path: write_object(df, path), ".parquet")
    assert staged.temp_key.startswith(TMP_PREFIX) and staged.temp_key.endswith(".parquet")
    backend.commit(staged.temp_key, "tables/df.parquet")
    local = backend.stage("tables/df.parquet", staged.hash_result)
    assert hash_file(local) == staged.hash_result
    pd.testing.assert_frame_equal(load_path(local, ".parquet"), df)


def test_write_temp_failure_leaves_nothing(backend: StorageBackend) -> None:
    def broken_writer(path: Path) -> None:
        path.write_bytes(b"half")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        backend.write_temp(broken_writer, ".bin")
    assert _temp_keys(backend) == []


def test_stage_in_many(backend: StorageBackend, make_file: MakeFile) -> None:
    sources = [make_file(f"f{i}.txt", f"file {i}".encode()) for i in range(5)]
    staged = backend.stage_in_many(sources)
    assert [s.hash for s in staged] == [hash_file(p).hash for p in sources]
    assert sorted(_temp_keys(backend)) == sorted(s.temp_key for s in staged)


def test_stage_in_many_is_all_or_nothing(backend: StorageBackend, make_file: MakeFile, tmp_path: Path) -> None:
    sources = [make_file("ok1.txt", b"1"), tmp_path / "missing.txt", make_file("ok2.txt", b"2")]
    with pytest.raises(StorageNotFoundError, match="missing.txt"):
        backend.stage_in_many(sources)
    assert _temp_keys(backend) == []


def test_stage_in_refuses_folders(backend: StorageBackend, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="not a regular file"):
        backend.stage_in(tmp_path)
    assert _temp_keys(backend) == []


def test_stage_in_failing_midway_leaves_nothing(
    backend: StorageBackend, make_file: MakeFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_file("big.bin", os.urandom(3 * 1024 * 1024))
    if backend.protocol == "local":
        # a real failure after the first megabytes: the file size limit, like a full disk
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, hard))
        try:
            with pytest.raises(OSError):
                backend.stage_in(src)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, previous)
    else:
        real = cloud_module.read_chunks

        def failing_reader(source: Path, chunk_size: int):  # noqa: ANN202
            for i, chunk in enumerate(real(source, 256 * 1024)):
                if i == 3:
                    raise OSError("disk read error")
                yield chunk

        monkeypatch.setattr(cloud_module, "read_chunks", failing_reader)
        with pytest.raises(OSError, match="disk read error"):
            backend.stage_in(src)
    assert _temp_keys(backend) == []
    assert list(backend.list()) == []


def test_relative_key_and_path(backend: StorageBackend) -> None:
    path = backend.path("a/b.txt")
    assert backend.relative_key(path) == "a/b.txt"
    assert backend.relative_key(str(path)) == "a/b.txt"
    assert backend.relative_key(backend.root) is None
    assert backend.relative_key("s3://elsewhere/x.txt") is None
    assert backend.relative_key("/somewhere/else.txt") is None


def test_repr_shows_root_and_protocol_only(backend: StorageBackend) -> None:
    assert repr(backend) == f"{type(backend).__name__}(root={backend.root!r}, protocol={backend.protocol!r})"


def test_commit_can_keep_the_staged_copy(backend: StorageBackend, make_file: MakeFile) -> None:
    staged = backend.stage_in(make_file("x.txt", b"data"))
    assert backend.commit(staged.temp_key, "k.txt", keep_temp=True) is None
    assert backend.exists(staged.temp_key) and _read(backend, "k.txt") == b"data"
    backend.discard(staged.temp_key)
    assert _read(backend, "k.txt") == b"data"


def test_overwrite_can_keep_the_staged_copy(backend: StorageBackend, make_file: MakeFile) -> None:
    _store(backend, make_file, "k.txt", b"old")
    staged = backend.stage_in(make_file("x.txt", b"new"))
    backup = backend.commit(staged.temp_key, "k.txt", overwrite=True, keep_temp=True)
    assert backup is not None and _read(backend, backup) == b"old"
    assert _read(backend, "k.txt") == b"new" and _read(backend, staged.temp_key) == b"new"
    assert sorted(_temp_keys(backend)) == sorted([backup, staged.temp_key])


def test_stage_in_many_interrupted_leaves_nothing(
    backend: StorageBackend, make_file: MakeFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the middle of a bulk copy (in this thread or a worker's) discards what was staged."""
    sources = [make_file(f"f{i}.txt", f"file {i}".encode()) for i in range(40)]
    real_stage_in = backend._stage_in_one_of_many  # what stage_in_many runs per file
    calls = []

    def stage_in(src):  # type: ignore[no-untyped-def]
        calls.append(src)
        if len(calls) == 25:
            raise KeyboardInterrupt
        return real_stage_in(src)

    monkeypatch.setattr(backend, "_stage_in_one_of_many", stage_in)
    with pytest.raises(KeyboardInterrupt):
        backend.stage_in_many(sources)
    assert len(calls) >= 25
    assert _temp_keys(backend) == []


def test_commit_with_a_known_size_and_discard_many(backend: StorageBackend, make_file: MakeFile) -> None:
    """The bulk paths of a save: commits that pass the staged size, one discard for all temporaries."""
    sources = [make_file(f"s{i}.txt", f"sized {i}".encode()) for i in range(5)]
    staged = backend.stage_in_many(sources)
    for i, s in enumerate(staged):
        backend.commit(s.temp_key, f"sized/{i}.txt", keep_temp=True, size=s.size)
    assert sorted(_temp_keys(backend)) == sorted(s.temp_key for s in staged)
    backend.discard_many([s.temp_key for s in staged] + [staged[0].temp_key])  # one already gone: fine
    assert _temp_keys(backend) == []
    assert [backend.info(f"sized/{i}.txt").hash for i in range(5)] == [s.hash for s in staged]
    with pytest.raises(StorageNotFoundError):
        backend.commit(staged[0].temp_key, "sized/again.txt", size=staged[0].size)
    assert not backend.exists("sized/again.txt")


def test_size_and_folders_without_reading_the_data(backend: StorageBackend, make_file: MakeFile) -> None:
    _store(backend, make_file, "a/b/c.txt", b"12345")
    _store(backend, make_file, "a/d.txt", b"1")
    _store(backend, make_file, "top.txt", b"1")
    assert backend.size("a/b/c.txt") == 5
    with pytest.raises(FileNotFoundError):
        backend.size("a/none.txt")
    assert "a" in backend.folders("") and "top.txt" not in backend.folders("")
    assert backend.folders("a") == ["b"] and backend.folders("a/b") == [] and backend.folders("nothing") == []
