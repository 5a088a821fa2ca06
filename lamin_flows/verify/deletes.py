"""Delete journals (see :mod:`lamin_flows.registry.file_delete`) found by ``lamin verify``.

A delete that was killed leaves its journal and the trash copy of the data it was deleting. If
the record is still there, the delete never committed: ``--fix`` puts the data back at its key
(if it is gone from there) and removes the copy. If the record is gone, the delete committed:
the copy is its leftover, reported as such (not as someone's unregistered file), and ``--fix``
removes it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lamin_flows.verify.objects import fresh_object


def is_delete_journal(document: dict[str, Any]) -> bool:
    files = document.get("files") or []
    return bool(files) and all(isinstance(e, dict) and e.get("op") == "delete" for e in files)


def settle_delete(check: Any, journal_key: str, document: dict[str, Any]) -> None:
    """Classify (and with ``check.fix``, settle) one delete journal, under the key's locks."""
    from lamin_flows.registry import db, journal
    from lamin_flows.registry.db import lock_name, lock_names
    from lamin_flows.registry.file import File

    entries = [e for e in document["files"] if isinstance(e.get("key"), str) and isinstance(e.get("trash"), str)]
    who = f"from {document.get('host')} (pid {document.get('pid')}, {document.get('created_at')})"
    table = File.__table__
    with db.write(check.engine) as conn:
        lock_names(conn, [lock_name(check.storage.id, e["key"]) for e in entries])
        ids = [str(e.get("id")) for e in entries]
        present = set(conn.execute(sa.select(table.c.id).where(table.c.id.in_(ids))).scalars()) if ids else set()
        for e in entries:
            key, trash, file_id = e["key"], e["trash"], str(e.get("id"))
            check.temps.pop(trash, None)  # the journal explains it: never "temporary", never lost by the age rule
            check.temps.pop(key, None)
            kept = fresh_object(check.backend, trash)
            if file_id in present:  # never committed: the record stays, and so must its data
                at_key = fresh_object(check.backend, key)
                if not check.fix:
                    check._add(
                        "interrupted",
                        journal_key,
                        file_id,
                        f"a delete of File {file_id} {who} never committed"
                        + ("" if at_key is not None else f"; its data is kept at {trash}")
                        + "; --fix puts everything back as the record says",
                    )
                    continue
                if at_key is None and kept is not None:
                    check.backend.copy_over(trash, key)
                    check.stored[key] = fresh_object(check.backend, key)
                if kept is not None:
                    check.backend.discard(trash)
                check._fixed("interrupted", journal_key, f"rolled back a delete of File {file_id} that never committed")
                continue
            if kept is None:  # committed and cleaned up but for the journal
                if check.fix:
                    check._fixed("temporary", journal_key, "journal of a delete that committed: removed")
                else:
                    check._add("temporary", journal_key, None, "journal of a delete that committed; --fix removes it")
                continue
            if check.fix:
                check.backend.discard(trash)
                check._fixed(
                    "interrupted", trash, f"removed the copy left by a delete of File {file_id} that committed"
                )
            else:
                check._add(
                    "interrupted",
                    trash,
                    None,
                    f"the data of File {file_id}, which a delete {who} removed (it committed) and left here;"
                    " --fix removes it",
                )
        if check.fix:
            journal.remove(check.backend, journal_key)
