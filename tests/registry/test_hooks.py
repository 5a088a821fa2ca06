"""The registry's after-save hooks: called after COMMIT, with the Files a save inserted, never failing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lamin_flows.registry import hooks


@pytest.fixture
def heard() -> Any:
    calls: list[list[Any]] = []
    hooks.after_files_saved.append(calls.append)
    try:
        yield calls
    finally:
        hooks.after_files_saved.remove(calls.append)


def test_listeners_get_only_new_files_after_the_commit(ln_sqlite, heard, tmp_path: Path) -> None:
    ln = ln_sqlite
    seen_in_db: list[int] = []

    def look(files: list[Any]) -> None:  # a new connection: sees only what was committed
        from lamin_flows.registry import instance

        with sa.create_engine(instance.current().engine.url).connect() as conn:
            ids = [f.id for f in files]
            seen_in_db.append(
                conn.execute(sa.text(f"SELECT count(*) FROM file WHERE id IN ({', '.join(map(repr, ids))})")).scalar()
            )

    hooks.after_files_saved.append(look)
    try:
        for i in range(3):
            (tmp_path / f"{i}.txt").write_text(str(i))
        files = [ln.File(tmp_path / f"{i}.txt", key=f"raw/{i}.txt") for i in range(3)]
        ln.save(files)
        files[0].description = "changed"
        ln.save(files)  # nothing new: re-saving saved Files is an update
    finally:
        hooks.after_files_saved.remove(look)
    assert [sorted(f.key for f in call) for call in heard] == [["raw/0.txt", "raw/1.txt", "raw/2.txt"]]
    assert seen_in_db == [3]


def test_a_failing_listener_warns_and_the_save_stands(ln_sqlite, tmp_path: Path, capsys) -> None:
    ln = ln_sqlite

    def broken(files: list[Any]) -> None:
        raise RuntimeError("listener down")

    hooks.after_files_saved.append(broken)
    try:
        (tmp_path / "a.txt").write_text("a")
        file = ln.File(tmp_path / "a.txt", key="raw/a.txt").save()
    finally:
        hooks.after_files_saved.remove(broken)
    assert ln.File.select(id=file.id).one().key == "raw/a.txt"
    assert "listener down" in capsys.readouterr().err


def test_the_registry_layer_imports_no_upper_layer() -> None:
    code = (
        "import sys, lamin_flows.registry.persist, lamin_flows.registry.hooks, lamin_flows.registry.file; "
        "up = sorted(m for m in sys.modules if m.startswith(('lamin_flows.tracking', 'lamin_flows.tasks', 'prefect'))); "
        "print(up)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
