"""A save makes the data it moved into place durable after the last move and before the COMMIT that
makes its records visible, once per storage and save (issue 20).

The storage is the real LocalBackend: its methods are wrapped to record when they run, and at the
moment ``make_durable`` runs, the registry is read through a new connection of its own (the real
SQLite file, nothing mocked) to see whether the records are visible yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lamin_flows.storage import local
from lamin_flows.storage.local import LocalBackend


@pytest.fixture
def events(ln_sqlite, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """(what, ...) of every move into place, durability flush and folder sync, in order."""
    from lamin_flows.registry import instance

    url = instance.current().engine.url
    seen: list[tuple[Any, ...]] = []

    def visible_keys() -> list[str]:
        engine = sa.create_engine(url)  # a connection of its own: sees committed rows only
        try:
            with engine.connect() as conn:
                return sorted(
                    str(k) for k in conn.execute(sa.text("SELECT key FROM file WHERE key IS NOT NULL")).scalars()
                )
        finally:
            engine.dispose()

    def wrap(name: str, record: Any) -> None:
        original = getattr(LocalBackend, name)

        def wrapper(self: LocalBackend, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            seen.append(record(self, *args, **kwargs))
            return result

        monkeypatch.setattr(LocalBackend, name, wrapper)

    wrap("commit", lambda self, temp, final, **kw: ("moved", final))
    wrap("copy_over", lambda self, src, dst: ("moved", dst))
    wrap("link", lambda self, src, dst: ("moved", dst))
    wrap(
        "make_durable",
        lambda self, keys: (
            "durable",
            sorted(keys),
            sorted(k for k in keys if (Path(self.root) / k).is_file()),
            visible_keys(),
        ),
    )
    flushes: list[str] = []
    for name in ("sync_folder", "sync_filesystem"):
        original = getattr(local, name)
        monkeypatch.setattr(
            local, name, lambda path, original=original, name=name: (flushes.append(name), original(path))[1]
        )
    seen.append(("flushes", flushes))
    return seen


def _durable(events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [e for e in events if e[0] == "durable"]


def test_one_save_is_durable_after_its_move_and_before_its_commit(ln_sqlite, events, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("a\n")
    ln_sqlite.File(source, key="results/a.csv").save()
    moves = [i for i, e in enumerate(events) if e[:2] == ("moved", "results/a.csv")]
    durable = [i for i, e in enumerate(events) if e[0] == "durable"]
    assert moves and durable and max(moves) < durable[0]  # after the last move
    _, keys, present, visible = events[durable[0]]
    assert keys == ["results/a.csv"] and present == keys
    assert visible == []  # before the COMMIT: no other connection sees the record yet
    assert len(durable) == 1
    assert ln_sqlite.File.select(key="results/a.csv").one().path().read_text() == "a\n"
    flushes = events[0][1]
    assert "sync_filesystem" not in flushes[-2:] and flushes[-2:] == ["sync_folder", "sync_folder"]  # results/, root


def test_a_batch_is_made_durable_once(ln_sqlite, events, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    for i in range(40):
        (folder / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (folder / f"d{i % 4}" / f"f{i}.txt").write_text(f"{i}\n")
    files = ln_sqlite.File.from_dir(folder, key="batch")
    del events[1:]
    ln_sqlite.save(files)
    durable = _durable(events)
    assert len(durable) == 1  # one call for the 40 Files of the save, not one per File
    _, keys, present, visible = durable[0]
    assert len(keys) == 40 and present == keys and visible == []
    assert events[0][1].count("sync_folder") == 6  # batch/d0..d3, batch, the root: one flush per folder


def test_a_new_version_is_durable_with_the_older_versions_bytes(ln_sqlite, events, tmp_path: Path) -> None:
    source = tmp_path / "v.txt"
    source.write_text("one\n")
    first = ln_sqlite.File(source, key="v.txt").save()
    source.write_text("two\n")
    del events[1:]
    second = ln_sqlite.File(source, key="v.txt").save()
    (durable,) = _durable(events)
    _, keys, present, visible = durable
    assert keys == sorted(["v.txt", f".lamindb/{first.id}.txt"]) and present == keys
    assert visible == ["v.txt"]  # only the first version's row: the second is not committed yet
    assert second.version == "2" and second.path().read_text() == "two\n"


def test_deleting_the_latest_version_makes_the_earlier_one_durable_before_commit(
    ln_sqlite, events, tmp_path: Path
) -> None:
    source = tmp_path / "v.txt"
    source.write_text("one\n")
    ln_sqlite.File(source, key="v.txt").save()
    source.write_text("two\n")
    second = ln_sqlite.File(source, key="v.txt").save()
    del events[1:]
    second.delete(storage=True)
    (durable,) = _durable(events)
    assert "v.txt" in durable[1] and durable[3] == ["v.txt", "v.txt"]  # both rows still committed
    assert ln_sqlite.File.select(key="v.txt").one().path().read_text() == "one\n"


def test_many_folders_take_one_syncfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = local.LocalBackend(str(tmp_path))
    flushes: list[str] = []
    monkeypatch.setattr(local, "sync_folder", lambda path: flushes.append("folder"))
    monkeypatch.setattr(local, "sync_filesystem", lambda path: flushes.append("fs"))
    backend.make_durable([f"d{i}/x.txt" for i in range(local.FOLDER_SYNC_LIMIT + 1)])
    assert flushes == ["fs"]
    flushes.clear()
    backend.make_durable(["a/b/c.txt", "a/d.txt"])
    assert flushes == ["folder"] * 3  # a/b, a, the root
    flushes.clear()
    backend.make_durable([])
    assert flushes == []


def test_the_journal_and_its_name_are_on_disk_before_any_data_moves(
    ln_sqlite, events, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lamin_flows.registry import journal

    original = journal.sync_folder

    def recorded(path: str) -> None:
        original(path)
        names = sorted(p.name for p in Path(path).iterdir())
        events.append(("journal folder synced", path, [n for n in names if journal.is_journal_key(n)]))

    monkeypatch.setattr(journal, "sync_folder", recorded)
    source = tmp_path / "j.csv"
    source.write_text("j\n")
    ln_sqlite.File(source, key="results/j.csv").save()
    synced = [i for i, e in enumerate(events) if e[0] == "journal folder synced"]
    moves = [i for i, e in enumerate(events) if e[:2] == ("moved", "results/j.csv")]
    assert synced and moves and synced[0] < moves[0]  # the journal's name is durable before the first move
    _, path, journals = events[synced[0]]
    assert Path(path) == Path(ln_sqlite.settings.storage) / ".lamindb" / "_tmp" and len(journals) == 1
