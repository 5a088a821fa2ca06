"""Data for the deployment tests."""

from __future__ import annotations

from pathlib import Path


def make_landing(root: Path, n_files: int, n_folders: int = 1) -> Path:
    """A landing folder of ``n_files`` small CSV files (distinct content) in ``n_folders`` sub-folders."""
    for i in range(n_files):
        path = root / f"batch_{i % n_folders:03d}" / f"reading_{i:05d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"sensor,value\nA,{i}\nB,{i * 2}\n")
    return root
