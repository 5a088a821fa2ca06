"""One storage checked against its records: ``lamin verify``'s work, and ``--fix``'s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lamin_flows.errors import LaminFlowsError
from lamin_flows.storage.keys import storage_key
from lamin_flows.verify.deletes import is_delete_journal, settle_delete
from lamin_flows.verify.objects import StoredObject, content_check, fresh_object, list_objects
from lamin_flows.verify.report import Finding, Report

CONFIRM_LIMIT = 10_000  # re-check at most this many problems (they are few unless storage is gone)


class StorageCheck:
    """Everything :func:`verify` does for one Storage."""

    def __init__(
        self,
        report: Report,
        engine: Any,
        storage: Any,
        rows: list[Any],
        fix: bool,
        rehash: bool,
        min_age: float,
        advance: Callable[[float], None],
    ) -> None:
        self.report, self.engine, self.storage, self.rows = report, engine, storage, rows
        self.fix, self.rehash, self.min_age, self.advance = fix, rehash, min_age, advance
        self.root = storage.root

    def _add(self, kind: str, key: str | None, file_id: str | None = None, detail: str = "") -> None:
        self.report.findings.append(Finding(kind, self.root, key, file_id, detail))

    def _fixed(self, kind: str, key: str | None, detail: str) -> None:
        self.report.fixed.append(Finding(kind, self.root, key, None, detail))

    def run(self) -> None:
        from lamin_flows.registry.storages import storage_options
        from lamin_flows.storage import get_backend, is_cloud
        from lamin_flows.storage.keys import is_temp_key

        self.report.records += len(self.rows)
        try:
            self.backend = get_backend(self.root, storage_options() if is_cloud(self.root) else None)
            objects = list_objects(self.backend)
        except (OSError, LaminFlowsError) as exc:
            self._add("unreachable", None, None, f"{exc} ({len(self.rows)} records not checked)")
            self.advance(len(self.rows))
            return
        from lamin_flows.storage.owner import OWNER_KEY

        # None: a key _restore_swaps found empty again (a registered key, which _records reports as missing)
        self.stored: dict[str, StoredObject | None] = {
            k: o for k, o in objects.items() if not is_temp_key(k) and k != OWNER_KEY
        }
        self.rows = self._unreadable(objects.unreadable, self.rows)
        self.temps = {k: o for k, o in objects.items() if is_temp_key(k)}
        self.report.objects += len(self.stored)
        self.expected = {storage_key(r.key, r.id, r.suffix, r.is_latest): r for r in self.rows}
        self._journals()
        self._records()
        self._unregistered()
        self._temporaries()

    def _unreadable(self, folders: list[tuple[str, str]], rows: list[Any]) -> list[Any]:
        """Report each folder that could not be listed; its records are not checked (not "missing")."""
        kept = rows
        for folder, error in folders:
            inside = [r for r in kept if storage_key(r.key, r.id, r.suffix).startswith(folder + "/")]
            kept = [r for r in kept if not storage_key(r.key, r.id, r.suffix).startswith(folder + "/")]
            self._add(
                "unreachable",
                folder,
                None,
                f"this folder cannot be read ({error}), the rest of the storage was checked;"
                f" {len(inside)} records under it not checked. Give this user read access to it.",
            )
            self.advance(len(inside))
        return kept

    # ---- save journals ----------------------------------------------------------------
    def _journals(self) -> None:
        from lamin_flows.registry import journal

        self.explained: set[str] = set()  # final keys a pending journal accounts for
        self.swapping: set[str] = set()  # keys an interrupted new version or delete left changed
        me = journal.writer_id()
        for key in sorted(k for k in self.temps if journal.is_journal_key(k)):
            document = journal.read(self.backend, key)
            if document is None:
                continue  # not a journal after all (or cut short before any data moved): a temporary file
            self.temps.pop(key)
            if journal.is_foreign(document, me):
                self._foreign(key, document)
                continue
            if journal.writer_may_be_running(document, self.min_age):
                self._in_progress(key, document)
                continue
            if is_delete_journal(document):
                settle_delete(self, key, document)
                continue
            self._settle(key, document)

    def _foreign(self, journal_key: str, document: dict[str, Any]) -> None:
        """A journal of another instance sharing this storage: its save, its keys; never touched here."""
        for entry in document["files"]:
            if isinstance(entry, dict):
                self.explained.update(k for k in (entry.get("key"), entry.get("source")) if isinstance(k, str))
                for name in ("temp", "trash"):
                    if isinstance(entry.get(name), str):
                        self.temps.pop(entry[name], None)
        self._add(
            "in_progress",
            journal_key,
            None,
            f"journal of instance {document.get('instance_id')}, which shares this storage: left to that instance",
        )

    def _in_progress(self, journal_key: str, document: dict[str, Any]) -> None:
        """A save that copies its data before taking the lock and may still run: not touched."""
        entries = [e for e in document["files"] if isinstance(e, dict) and isinstance(e.get("key"), str)]
        self.explained.update(e["key"] for e in entries)
        for e in entries:
            self.temps.pop(e.get("temp") or "", None)
            self.temps.pop(e.get("trash") or "", None)
        what = "delete" if is_delete_journal(document) else "save"
        self._add(
            "in_progress",
            journal_key,
            None,
            f"a {what} of {len(entries)} files from {document.get('host')} (pid {document.get('pid')},"
            f" {document.get('created_at')}) that may still be running; left alone",
        )

    def _settle(self, journal_key: str, document: dict[str, Any]) -> None:
        """Classify one journal under the save's own locks; with fix, roll it back or drop it."""
        from lamin_flows.registry import db, journal
        from lamin_flows.registry.db import lock_name, lock_names

        entries = [e for e in document["files"] if isinstance(e, dict) and isinstance(e.get("key"), str)]
        swaps = [e for e in entries if isinstance(e.get("previous"), dict)]
        entries = [e for e in entries if not isinstance(e.get("previous"), dict)]
        with db.write(self.engine) as conn:  # SQLite: the write lock; PostgreSQL: the keys' advisory locks
            lock_names(conn, [lock_name(self.storage.id, e["key"]) for e in entries + swaps])
            registered = self._registered(conn, entries)
            pending = [e for e in entries if e["key"] not in registered]
            undone = self._swaps_undone(conn, swaps)
            self._swaps_settled(swaps, undone)
            if undone:
                if not self.fix:
                    self.explained.update(e["key"] for e in pending if e["key"] in self.stored)
                    self.explained.update(e["previous"].get("archive") for e in undone)
                    self.swapping.update(e["key"] for e in undone)
                    self._add(
                        "interrupted",
                        journal_key,
                        None,
                        f"a new version or delete from {document.get('host')} (pid {document.get('pid')},"
                        f" {document.get('created_at')}) changed {len(undone)} key(s) and never committed;"
                        " --fix puts the versions the records name back at their keys",
                    )
                    return
                restored = self._restore_swaps(undone)
                self._roll_back([e for e in pending if e["key"] in self.stored])
                journal.remove(self.backend, journal_key)
                self._fixed(
                    "interrupted",
                    journal_key,
                    f"rolled back a new version or delete that never committed: restored {restored} key(s)",
                )
                return
            if not pending:
                for e in entries:  # the save committed: its staged copies are of no use to anyone
                    self.temps.pop(e.get("temp") or "", None)
                if self.fix:
                    self._drop_temps(entries)
                    journal.remove(self.backend, journal_key)
                    self._fixed("temporary", journal_key, "journal of a save that committed: removed")
                else:
                    self._add("temporary", journal_key, None, "journal of a save that committed; --fix removes it")
                return
            moved = [e for e in pending if e["key"] in self.stored]
            if not self.fix:
                self.explained.update(e["key"] for e in moved)
                self._add(
                    "interrupted",
                    journal_key,
                    None,
                    f"a save from {document.get('host')} (pid {document.get('pid')}, {document.get('created_at')})"
                    f" moved {len(moved)} of {len(entries)} files into place and never committed;"
                    " --fix rolls it back, then run the save again",
                )
                return
            # The staged copies stay (they follow the age rule): a process that is still alive
            # (its save failed and could not undo) can save the same Files again.
            kept = self._roll_back(moved)
            if kept:
                self.explained.update(kept)
            journal.remove(self.backend, journal_key)
        self._fixed(
            "interrupted",
            journal_key,
            f"rolled back a save that never committed: removed {len(moved) - len(kept)} files from their final keys"
            + (f", kept {len(kept)} whose content had changed" if kept else ""),
        )

    def _swaps_undone(self, conn: Any, swaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Journal entries of new versions (and deletes of a latest version) that never committed.

        A new version committed if its record exists; a delete committed if the deleted
        version's record is gone.
        """
        from lamin_flows.registry.file import File

        if not swaps:
            return []
        table = File.__table__
        ids = {str(e.get("id")) for e in swaps} | {str(e["previous"].get("id")) for e in swaps}
        rows = conn.execute(sa.select(table.c.id, table.c.is_latest).where(table.c.id.in_(sorted(ids)))).all()
        present = {r.id for r in rows}
        # The version the journal would put back must still be the key's latest: a save that committed
        # after the crash owns the key now, and restoring would put older bytes under its record
        # (found by the kill campaign, tests/reliability/test_kill_campaign.py).
        self.latest_ids = {r.id for r in rows if r.is_latest}
        undone = []
        for e in swaps:
            if e.get("op") == "promote":
                committed = e["previous"].get("id") not in present
            else:
                committed = e.get("id") in present
            if not committed:
                undone.append(e)
        return undone

    def _swaps_settled(self, swaps: list[dict[str, Any]], undone: list[dict[str, Any]]) -> None:
        """For swaps that committed: the copies a crash left behind are no record's any more."""
        for e in swaps:
            if e in undone:
                continue
            self.temps.pop(e.get("temp") or "", None)
            if self.fix:
                self._drop_temps([e])
            if e.get("op") == "promote":  # the earlier version is back at the key
                leftovers = [e.get("source")] + ([] if e.get("keep_previous") else [e["previous"].get("archive")])
                for key in leftovers:
                    if isinstance(key, str) and key in self.stored and key not in self.expected:
                        if self.fix:
                            self.backend.delete(key)
                            self.stored.pop(key, None)
                            self._fixed("temporary", key, "copy left by a delete that committed: removed")
                        else:
                            self.explained.add(key)

    def _restore_swaps(self, undone: list[dict[str, Any]]) -> int:
        """Put back at each key the version its record says is there, from the copy the swap kept."""
        restored = 0
        for e in undone:
            key, archive = e["key"], e["previous"].get("archive")
            prev = e["previous"]  # still the latest: the older version (new version), the deleted one (delete)
            if prev.get("id") not in getattr(self, "latest_ids", set()):
                continue  # superseded: another save committed at this key since; its bytes stay
            want = _EntryRow(prev.get("size"), prev.get("hash"), prev.get("hash_type"))
            obj = fresh_object(self.backend, key)
            right = obj is not None and content_check(self.backend, key, want, obj, True)[0] is None
            kept = fresh_object(self.backend, archive) if isinstance(archive, str) else None
            if not right and kept is not None and content_check(self.backend, archive, want, kept, True)[0] is None:
                self.backend.copy_over(archive, key)
                restored += 1
                right = True
            self.stored[key] = fresh_object(self.backend, key) or self.stored.get(key)
            if right and kept is not None and archive not in self.expected:
                self.backend.delete(archive)
                self.stored.pop(archive, None)
        return restored

    def _registered(self, conn: Any, entries: list[dict[str, Any]]) -> set[str]:
        """Storage keys among the journal's that a record points to now."""
        from lamin_flows.registry.file import File
        from lamin_flows.registry.sql import chunks, one_of

        table = File.__table__
        keys = [e["key"] for e in entries]
        ids = [str(e.get("id")) for e in entries]
        found: set[str] = set()
        columns = (table.c.id, table.c.key, table.c.suffix, table.c.is_latest)
        for batch in chunks(keys):
            stmt = sa.select(*columns).where(table.c.storage_id == self.storage.id, one_of(conn, table.c.key, batch))
            found.update(storage_key(r.key, r.id, r.suffix, r.is_latest) for r in conn.execute(stmt))
        for batch in chunks(ids):
            stmt = sa.select(*columns).where(table.c.storage_id == self.storage.id, one_of(conn, table.c.id, batch))
            found.update(storage_key(r.key, r.id, r.suffix, r.is_latest) for r in conn.execute(stmt))
        return found

    def _roll_back(self, moved: list[dict[str, Any]]) -> list[str]:
        """Remove what a crashed save moved into place; return the keys kept because their content differs."""
        kept: list[str] = []
        for entry in moved:
            key = entry["key"]
            obj = fresh_object(self.backend, key)
            if obj is None:
                self.stored.pop(key, None)
                continue
            row = _EntryRow(entry.get("size"), entry.get("hash"), entry.get("hash_type"))
            wrong, _ = content_check(self.backend, key, row, obj, self.rehash)
            if wrong is not None:
                kept.append(key)  # someone put other data there since: not ours to delete
                continue
            try:
                self.backend.delete(key)
            except FileNotFoundError:
                pass
            self.stored.pop(key, None)
        return kept

    def _drop_temps(self, entries: Iterable[dict[str, Any]]) -> None:
        for entry in entries:
            temp = entry.get("temp")
            if isinstance(temp, str):
                try:
                    self.backend.discard(temp)
                except (OSError, LaminFlowsError):
                    pass

    # ---- records ----------------------------------------------------------------------
    def _records(self) -> None:
        from lamin_flows.config import get_settings

        def check(item: tuple[str, Any]) -> tuple[str, Any, str | None, bool]:
            key, row = item
            obj = self.stored.get(key)
            if obj is None:
                return "missing", row, "no data under this key", False
            wrong, hashed = content_check(self.backend, key, row, obj, self.rehash)
            return ("corrupt" if wrong else "ok"), row, wrong, hashed

        suspects: list[tuple[str, Any, str | None]] = []
        with ThreadPoolExecutor(get_settings().workers) as pool:
            items = [(k, r) for k, r in self.expected.items() if k not in self.swapping]  # reported as interrupted
            self.advance(len(self.expected) - len(items))
            for state, row, detail, hashed in pool.map(check, items):
                self.report.hashed += hashed
                if state != "ok":
                    suspects.append((state, row, detail))
                self.advance(1)
        for state, row, detail in self._confirm(suspects):
            key = storage_key(row.key, row.id, row.suffix, row.is_latest)
            drop = f"ln.File.select(id={row.id!r}).one().delete(storage=False)"
            if state == "missing" and not row.is_latest and row.key is not None:
                advice = (
                    f"version {row.version} of {row.key!r} lost its bytes: the file at the key was changed in place"
                    " (outside lamin_flows) before a newer version was registered, so they could not be kept."
                    f" Restore them from a backup to {key}, or drop the record ({drop})"
                )
                self._add(state, key, row.id, advice)
                continue
            if state == "corrupt":
                advice = (
                    f"changed outside lamin_flows: restore the original, or drop the record ({drop})"
                    " and register the new content"
                )
            else:
                advice = f"restore the data, or drop the record ({drop})"
            self._add(state, key, row.id, f"{detail}; {advice}")

    def _confirm(self, suspects: list[tuple[str, Any, str | None]]) -> Sequence[tuple[str, Any, str | None]]:
        """Check problems again against the registry and storage as they are now.

        A record deleted (or data saved) between the query and the listing would otherwise be
        reported wrongly; problems are few, so this costs one query and one request each.
        """
        if not suspects or len(suspects) > CONFIRM_LIMIT:
            return suspects
        from lamin_flows.registry import db
        from lamin_flows.registry.file import File
        from lamin_flows.registry.sql import chunks

        table = File.__table__
        now: dict[str, Any] = {}
        with db.read(self.engine) as conn:
            for batch in chunks([row.id for _, row, _ in suspects]):
                for row in conn.execute(sa.select(table).where(table.c.id.in_(batch))):
                    now[row.id] = row
        confirmed = []
        for _state, row, _detail in suspects:
            current = now.get(row.id)
            if current is None or (current.key, current.hash, current.size) != (row.key, row.hash, row.size):
                continue  # deleted or changed meanwhile: it is checked next time
            key = storage_key(row.key, row.id, row.suffix, row.is_latest)
            obj = fresh_object(self.backend, key)
            if obj is None:
                confirmed.append(("missing", row, "no data under this key"))
                continue
            wrong, _ = content_check(self.backend, key, row, obj, self.rehash)
            if wrong is not None:
                confirmed.append(("corrupt", row, wrong))
        return confirmed

    # ---- objects no record points to ----------------------------------------------------
    def _unregistered(self) -> None:
        for key in sorted(self.stored):
            if key not in self.expected and key not in self.explained:
                self._add("unregistered", key, None, f"{self.stored[key].size} bytes")  # type: ignore[union-attr]  # None only for registered keys

    def _temporaries(self) -> None:
        now = time.time()
        for key in sorted(self.temps):
            obj = self.temps[key]
            age = None if obj.mtime is None else now - obj.mtime
            if age is not None and age < self.min_age:
                self._add("in_progress", key, None, f"{age:.0f} s old")
                continue
            if self.fix:
                try:
                    self.backend.discard(key)
                except (OSError, LaminFlowsError) as exc:
                    self._add("temporary", key, None, f"could not remove it: {exc}")
                    continue
                self._fixed("temporary", key, "removed")
            else:
                self._add("temporary", key, None, "left by a crashed or abandoned save; --fix removes it")


@dataclass(frozen=True)
class _EntryRow:
    """A journal entry, shaped like a File row for :func:`~lamin_flows.verify.objects.content_check`."""

    size: int | None
    hash: str | None
    hash_type: str | None
