"""The registered Files of a storage as a folder tree: ``File.tree()`` and ``lamin tree``.

It fits the terminal by ``level`` (folders deeper than it are summed up) and ``limit`` (lines; a
"... and N more" line says what was left out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lamin_flows.errors import NoResultError
from lamin_flows.registry import instance
from lamin_flows.registry.listing import Listing, human_size, plural

NO_KEY = "(no key)"  # the group of Files saved without a key (a DataFrame with only a name)
TREE_LIMIT = 100  # lines a tree shows by default: a screenful or two, fast on any registry


@dataclass
class TreeEntry:
    """One line of a tree: a folder (with what is under it) or a File."""

    type: str  # "folder" or "file"
    path: str  # the key, or the folder's path ending in "/"; NO_KEY entries: the File's name
    depth: int  # 0 for the entries at the top
    size: int | None  # a File's size; a folder's total
    files: int  # 1 for a File; the Files under a folder
    id: str | None = None  # a File's id
    version: str | None = None  # a File's version label (the latest version: the tree shows no others)
    versions: int = 1  # how many versions the File's key has


@dataclass
class Tree:
    """What ``File.tree()`` shows: the entries, and how many were left out by ``limit``."""

    root: str
    entries: list[TreeEntry]
    more: int  # entries not shown
    n_files: int
    n_folders: int


class _Folder:
    __slots__ = ("folders", "files", "n_files", "size")

    def __init__(self) -> None:
        self.folders: dict[str, _Folder] = {}
        self.files: list[tuple[str, int | None, str, str | None, str | None]] = []  # name, size, id, version, stem
        self.n_files = 0
        self.size = 0


def build_tree(
    prefix: str | None = None, *, level: int | None = None, limit: int | None = TREE_LIMIT, storage: Any = None
) -> Tree:
    """The entries of the registered Files' folder tree (see :meth:`File.tree`).

    Raises:
        NoResultError: ``prefix`` matches no registered key.
    """
    import sqlalchemy as sa

    from lamin_flows.registry.classes import file_class

    File = file_class()  # noqa: N806 - a class
    inst = instance.current()
    storage_id = storage.id if storage is not None else inst.storage_id
    root = storage.root if storage is not None else inst.config.storage_root
    prefix = (prefix or "").strip("/")
    query = File.select(storage_id=storage_id)
    if prefix:
        query = query.filter(key__startswith=prefix + "/")
    table = File.__table__
    cols = (table.c.key, table.c.size, table.c.id, table.c.name, table.c.suffix, table.c.version, table.c.stem_id)
    rows = query._rows(sa.select(*cols).where(*query._conditions()).order_by(table.c.key, table.c.id))
    # keys with older versions, marked in the tree (one grouped query over the older versions)
    older = sa.select(table.c.stem_id, sa.func.count()).where(
        table.c.storage_id == storage_id, table.c.is_latest == sa.false()
    )
    n_versions = {stem: n + 1 for stem, n in query._rows(older.group_by(table.c.stem_id))}
    if prefix and not rows:
        exact = File.select(storage_id=storage_id, key=prefix).first()
        if exact is None:
            raise NoResultError(
                f"no registered File has a key under {prefix + '/'!r} in {root}; "
                "`lamin tree` (or ln.File.tree()) shows the top-level folders"
            )
        rows = [(exact.key, exact.size, exact.id, exact.name, exact.suffix, exact.version, exact.stem_id)]
        prefix = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    top = _Folder()
    keyless = _Folder()
    for key, size, file_id, name, suffix, version, stem in rows:
        if key is None:
            keyless.files.append((name or f"{file_id}{suffix}", size, file_id, version, stem))
            keyless.n_files += 1
            keyless.size += size or 0
            continue
        parts = (key[len(prefix) + 1 :] if prefix else key).split("/")
        node = top
        node.n_files += 1
        node.size += size or 0
        for part in parts[:-1]:
            node = node.folders.setdefault(part, _Folder())
            node.n_files += 1
            node.size += size or 0
        node.files.append((parts[-1], size, file_id, version, stem))
    entries: list[TreeEntry] = []
    n_folders = 0

    def walk(folder: _Folder, path: str, depth: int) -> None:
        nonlocal n_folders
        for name, child in folder.folders.items():
            n_folders += 1
            entries.append(TreeEntry("folder", f"{path}{name}/", depth, child.size, child.n_files))
            if level is None or depth + 1 < level:
                walk(child, f"{path}{name}/", depth + 1)
            else:
                n_folders += _count_folders(child)
        for name, size, file_id, version, stem in folder.files:
            entries.append(
                TreeEntry("file", f"{path}{name}", depth, size, 1, file_id, version, n_versions.get(stem, 1))
            )

    walk(top, "", 0)
    if keyless.n_files:  # after the keys: a group, not a folder of the storage
        entries.append(TreeEntry("folder", f"{NO_KEY}/", 0, keyless.size, keyless.n_files))
        if level is None or level > 1:
            entries.extend(
                TreeEntry("file", f"{NO_KEY}/{n}", 1, s, 1, i, v, n_versions.get(stem, 1))
                for n, s, i, v, stem in keyless.files
            )
    shown = entries if not limit else entries[:limit]
    label = f"{root}/{prefix}" if prefix else str(root)
    return Tree(label, shown, len(entries) - len(shown), len(rows), n_folders)


def _count_folders(folder: _Folder) -> int:
    return sum(1 + _count_folders(child) for child in folder.folders.values())


def tree_listing(tree: Tree) -> Listing:
    """The tree's entries as rows, for ``--json``/``--csv``."""
    rows = [vars(entry) for entry in tree.entries]
    return Listing(tree.root, ["type", "path", "depth", "size", "files", "id", "version", "versions"], rows)


def print_tree(
    prefix: str | None = None, *, level: int | None = None, limit: int | None = TREE_LIMIT, storage: Any = None
) -> Tree:
    """Print the registered keys of a storage (default: the default storage) as a folder tree.

    Returns:
        The :class:`Tree` printed.
    """
    from rich.markup import escape
    from rich.tree import Tree as RichTree

    tree = build_tree(prefix, level=level, limit=limit, storage=storage)
    top = RichTree(f"[bold]{escape(tree.root)}")
    branches: dict[int, Any] = {0: top}
    for entry in tree.entries:
        parent = branches[entry.depth]
        keyless = entry.path.startswith(NO_KEY + "/")
        name = (
            entry.path[len(NO_KEY) + 1 :]
            if keyless and entry.type == "file"
            else entry.path.rstrip("/").rsplit("/", 1)[-1]
        )
        if entry.type == "folder":
            summary = f" [dim]({plural(entry.files, 'file')}, {human_size(entry.size)})"
            branches[entry.depth + 1] = parent.add(f"[bold blue]{escape(name)}/[/]{summary}")
        else:
            short = f", id {entry.id[:8]}" if keyless and entry.id else ""
            history = f", version {entry.version} of {entry.versions}" if entry.versions > 1 else ""
            parent.add(f"{escape(name)} [dim]({human_size(entry.size)}{short}{history})")
    if tree.more:
        top.add(f"[dim]... and {tree.more:,} more (limit={limit}; a smaller level or a prefix narrows it)")
    console = _console()
    console.print(top)
    console.print(f"{plural(tree.n_folders, 'folder')}, {plural(tree.n_files, 'file')}")
    return tree


def _console(width: int | None = None) -> Any:
    from rich.console import Console

    return Console(width=width) if width else Console()
