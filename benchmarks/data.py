"""Test data for the steps: folders of small files, and a registry of many File records."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from benchmarks.harness import Context

N_FOLDERS = 100  # key prefixes "folder_000/" ... "folder_099/": a prefix selects 1% of the Files
N_TAGS = 10  # "tag_0" ... "tag_9": a tag selects 10% of the Files


def make_files(folder: Path, n: int, size: int = 1024, per_dir: int = 1000) -> list[Path]:
    """``n`` files of ``size`` random bytes (each distinct) in sub-folders of ``per_dir`` files."""
    paths = []
    for i in range(n):
        sub = folder / f"part_{i // per_dir:03d}"
        if i % per_dir == 0:
            sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"file_{i:06d}.bin"
        with open(path, "wb") as fh:
            fh.write(os.urandom(size))
        paths.append(path)
    return paths


def register_folder(ln: Any, folder: Path) -> list[Any]:
    """``ln.save(ln.File.from_dir(folder))``, the workload of the registering steps; returns the Files."""
    files = ln.File.from_dir(folder)
    ln.save(files)
    return files


def init_instance(ctx: Context, name: str = "bench", db: str | None = None) -> Any:
    """A fresh instance with storage ``ctx.work/<name>-storage``; returns ``lamin_flows``."""
    import lamin_flows as ln

    ln.setup.init(storage=ctx.work / f"{name}-storage", db=db, name=name)
    return ln


def fake_hash(i: int) -> str:
    """A distinct 22-character hash for record ``i`` (the records of :func:`populate` have no data)."""
    return base64.urlsafe_b64encode(hashlib.md5(str(i).encode()).digest()).decode().rstrip("=")


def populate(n: int, batch: int = 20_000, versions: int = 1) -> dict[str, Any]:
    """Save ``n`` File records with keys ``folder_XXX/file_YYYYYY.txt``, each with one of 10 Tags
    (with ``versions`` > 1: that many versions of every key, each with other content).

    The records go through the public API (``ln.File(key=..., ...)``, ``file.tags.add``,
    ``ln.save``) but have no data in storage: the query steps measure the registry only.

    Returns:
        What the query steps need: the prefix and tag to select by, and how many rows each gives.
    """
    import lamin_flows as ln
    from lamin_flows.registry import instance

    storage_id = instance.current().storage_id
    tags = [ln.Tag(name=f"tag_{t}") for t in range(N_TAGS)]
    ln.save(tags)
    for version in range(versions):
        for start in range(0, n, batch):
            files = []
            for i in range(start, min(n, start + batch)):
                file = ln.File(
                    key=f"folder_{i % N_FOLDERS:03d}/file_{i:06d}.txt",
                    name=f"file_{i:06d}.txt",
                    storage_id=storage_id,
                    suffix=".txt",
                    size=1024,
                    hash=fake_hash(i + version * n),
                    hash_type="md5",
                )
                file.tags.add(tags[i % N_TAGS])
                files.append(file)
            ln.save(files)
    return {
        "prefix": "folder_042/",
        "prefix_rows": len(range(42, n, N_FOLDERS)),
        "tag": "tag_3",
        "tag_rows": len(range(3, n, N_TAGS)),
    }
