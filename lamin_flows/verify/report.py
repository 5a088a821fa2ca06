"""What ``lamin verify`` reports: :class:`Finding` and :class:`Report`."""

from __future__ import annotations

from dataclasses import dataclass, field

PROBLEMS = ("missing", "corrupt", "interrupted", "temporary", "unreachable")
"""Kinds of findings that make a report fail (``lamin verify`` exits 1)."""

NOTES = ("unregistered", "in_progress")
"""Kinds of findings that are listed but are not problems."""


@dataclass(frozen=True)
class Finding:
    """One thing :func:`verify` found (or fixed).

    Attributes:
        kind: "missing", "corrupt", "interrupted", "temporary", "unreachable", "unregistered" or "in_progress".
        storage: The storage root.
        key: The storage key concerned (for "interrupted": the journal's key).
        file_id: The File record concerned, if any.
        detail: What exactly is wrong (or what was done), and what to do.
    """

    kind: str
    storage: str
    key: str | None
    file_id: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.storage}/{self.key}" if self.key else self.storage
        record = f"File {self.file_id}: " if self.file_id else ""
        return f"{record}{where}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Report:
    """What :func:`verify` checked and found.

    Attributes:
        storages: The storage roots checked.
        records: File records checked.
        objects: Stored objects listed (outside the temporary area).
        hashed: Records whose content hash was compared (the rest: size only).
        findings: Problems and notes still present after the run.
        fixed: What ``fix=True`` repaired (same kinds as ``findings``; ``detail`` says what was done).
    """

    storages: list[str] = field(default_factory=list)
    records: int = 0
    objects: int = 0
    hashed: int = 0
    findings: list[Finding] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)

    def of(self, kind: str) -> list[Finding]:
        """The findings of one kind."""
        return [f for f in self.findings if f.kind == kind]

    @property
    def missing(self) -> list[Finding]:
        """Records whose data is gone."""
        return self.of("missing")

    @property
    def corrupt(self) -> list[Finding]:
        """Records whose data has another size or hash."""
        return self.of("corrupt")

    @property
    def interrupted(self) -> list[Finding]:
        """Journals of saves that crashed after moving data in (one finding per journal)."""
        return self.of("interrupted")

    @property
    def temporary(self) -> list[Finding]:
        """Old temporary files nothing uses."""
        return self.of("temporary")

    @property
    def unreachable(self) -> list[Finding]:
        """Storages that could not be listed."""
        return self.of("unreachable")

    @property
    def unregistered(self) -> list[Finding]:
        """Stored objects no record points to (not a problem)."""
        return self.of("unregistered")

    @property
    def in_progress(self) -> list[Finding]:
        """Temporary files too young to remove (not a problem)."""
        return self.of("in_progress")

    @property
    def problems(self) -> list[Finding]:
        """Every finding that makes the report fail."""
        return [f for f in self.findings if f.kind in PROBLEMS]

    @property
    def ok(self) -> bool:
        """True when no record lacks its data, nothing is corrupt and nothing is left to clean up."""
        return not self.problems

    def summary(self, limit: int = 20) -> str:
        """A readable report: counts, then up to ``limit`` findings of each kind."""
        lines = [
            f"checked {self.records} File records against {self.objects} stored objects in"
            f" {len(self.storages)} storage(s); {self.hashed} by content hash, {self.records - self.hashed} by size"
        ]
        titles = {
            "unreachable": "storage unreachable",
            "missing": "records without data",
            "corrupt": "records whose data differs (size or hash)",
            "interrupted": "interrupted saves (data moved in, never registered): `lamin verify --fix` rolls them back",
            "temporary": "old temporary files: `lamin verify --fix` removes them",
            "unregistered": "stored files no record points to (kept; not a problem)",
            "in_progress": "recent temporary files, possibly a save in progress (kept; --min-age 0 includes them)",
        }
        for kind in (*PROBLEMS, *NOTES):
            found = self.of(kind)
            if found:
                mark = "✗" if kind in PROBLEMS else "•"
                lines.append(f"{mark} {len(found)} {titles[kind]}")
                lines.extend(f"    {f}" for f in found[:limit])
                if len(found) > limit:
                    lines.append(f"    ... and {len(found) - limit} more")
        if self.fixed:
            lines.append(f"fixed {len(self.fixed)}:")
            lines.extend(f"    {f}" for f in self.fixed[:limit])
            if len(self.fixed) > limit:
                lines.append(f"    ... and {len(self.fixed) - limit} more")
        lines.append("OK" if self.ok else f"{len(self.problems)} problem(s)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(self.of(k))}" for k in (*PROBLEMS, *NOTES) if self.of(k))
        return f"Report(ok={self.ok}, records={self.records}, objects={self.objects}{', ' + counts if counts else ''})"
