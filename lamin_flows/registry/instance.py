"""The current instance: which database and which default storage the registry uses.

An instance is described by a small JSON file under ``$LAMIN_HOME/instances/<name>.json``
(readable by its owner only, since a database URL may hold a password); the name of the
current instance is remembered in ``$LAMIN_HOME/current-instance``. ``LAMIN_INSTANCE``
overrides it for one process (deployments and workers use this).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lamin_flows.config import get_settings
from lamin_flows.errors import InstanceNotFoundError


@dataclass
class InstanceConfig:
    """What identifies an instance: its name, database and default storage."""

    name: str
    storage_root: str
    db_url: str | None = None  # None: a SQLite file under LAMIN_HOME
    storage_options: dict[str, Any] = field(default_factory=dict)
    # the lamin_instance row of this instance (set by ln.setup.init; looked up by name when a
    # deployment's block hands over a config without it): who the instance is, not how to reach it
    instance_id: str | None = field(default=None, compare=False)

    @property
    def sqlite_path(self) -> Path:
        """Where the SQLite registry of this instance lives (when ``db_url`` is None)."""
        return instances_dir() / f"{self.name}.sqlite"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the registry database."""
        return self.db_url or f"sqlite:///{self.sqlite_path}"

    def __repr__(self) -> str:
        from lamin_flows.registry.db import redact

        db = redact(self.db_url) if self.db_url else str(self.sqlite_path)
        return f"Instance(name={self.name!r}, storage={self.storage_root!r}, db={db!r})"


def instances_dir() -> Path:
    """``$LAMIN_HOME/instances``."""
    return get_settings().home / "instances"


def config_path(name: str) -> Path:
    """The settings file of instance ``name``."""
    return instances_dir() / f"{name}.json"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(path.parent, 0o700)
    except OSError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    # A leftover (or planted) .tmp keeps its mode through O_TRUNC, and a symlink would lead the
    # secrets elsewhere: refuse to follow links, and set the mode on what was opened.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_config(config: InstanceConfig) -> None:
    """Store an instance's settings (owner-readable only)."""
    _write_private(config_path(config.name), json.dumps(asdict(config), indent=2))


def read_config(name: str) -> InstanceConfig:
    """Read the settings of instance ``name``; raise InstanceNotFoundError if unknown."""
    path = config_path(name)
    if not path.exists():
        known = sorted(p.stem for p in instances_dir().glob("*.json")) if instances_dir().exists() else []
        raise InstanceNotFoundError(
            f"no instance named {name!r} under {instances_dir()}; known: {known or 'none'}."
            " Create one with `lamin init --storage ./mydata` or ln.setup.init(storage=...)."
        )
    return InstanceConfig(**json.loads(path.read_text()))


def remember_current(name: str | None) -> None:
    """Make ``name`` the instance new processes load (None forgets it)."""
    path = get_settings().home / "current-instance"
    if name is None:
        path.unlink(missing_ok=True)
    else:
        _write_private(path, name)


def remembered_name() -> str | None:
    """The instance name to load: LAMIN_INSTANCE, else the remembered one."""
    settings = get_settings()
    if settings.instance:
        return settings.instance
    path = settings.home / "current-instance"
    return path.read_text().strip() if path.exists() else None


class Instance:
    """A connected instance: its config, engine, default Storage and current User."""

    def __init__(self, config: InstanceConfig) -> None:
        self.config = config
        self._storage_id: str | None = None
        self._user_id: str | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine of the registry (schema upgraded on first use)."""
        from lamin_flows.registry.db import get_engine
        from lamin_flows.registry.migrate import ensure_schema

        engine = get_engine(self.config.url)
        ensure_schema(engine)
        return engine

    def storage_record(self) -> Any:
        """The Storage record of the default storage root (created if missing)."""
        from lamin_flows.registry.classes import registry_class
        from lamin_flows.storage import get_backend, is_cloud

        Storage = registry_class("Storage")  # noqa: N806 - a class
        if self._storage_id is None:
            with self._lock:
                root = self.config.storage_root
                record = Storage.select(root=root).one_or_none()
                if record is None:
                    from lamin_flows.registry import ownership

                    get_backend(root, self.config.storage_options or None)
                    ownership.claim_storage(self, root)
                    record = Storage(root=root, type=_storage_type(root) if is_cloud(root) else "local").save()
                self._storage_id = record.id
                return record
        return Storage.select(id=self._storage_id).one()

    @property
    def storage_id(self) -> str:
        """Id of the default Storage record."""
        if self._storage_id is None:
            self.storage_record()
        return self._storage_id  # type: ignore[return-value]

    def user_id(self) -> str:
        """Id of the current User (created from the login name on first write)."""
        if self._user_id is None:
            user_id, new = self.user_for_save()
            if new is not None:
                self._user_id = new.save().id  # a concurrent first save of the same handle: its row
            else:
                self._user_id = user_id
        return self._user_id

    def user_for_save(self) -> tuple[str, Any]:
        """Id of the current User, and its unsaved record if it is not registered yet.

        A save writes that record in its own transaction, so a failed first save leaves no User
        row behind (:func:`lamin_flows.registry.persist.save_records`).
        """
        if self._user_id is not None:
            return self._user_id, None
        from lamin_flows.registry.classes import registry_class

        User = registry_class("User")  # noqa: N806 - a class
        handle = get_settings().user_handle
        record = User.select(handle=handle).one_or_none()
        if record is not None:
            self._user_id = record.id
            return record.id, None
        new = User(handle=handle, name=handle)
        return new.id, new


def _storage_type(root: str) -> str:
    return root.split("://", 1)[0]


_current: Instance | None = None
_current_lock = threading.Lock()
_unavailable: str | None = None  # why the instance this process was told to use could not be loaded


def current() -> Instance:
    """The instance this process uses, loaded from ``LAMIN_HOME`` on first use."""
    global _current
    if _unavailable is not None:
        raise InstanceNotFoundError(_unavailable)
    if _current is None:
        with _current_lock:
            if _current is None:
                name = remembered_name()
                if name is None:
                    raise InstanceNotFoundError(
                        f"no lamin_flows instance is set up (looked in {get_settings().home})."
                        " Run ln.setup.init(storage='./mydata') or `lamin init --storage ./mydata`."
                    )
                _current = Instance(read_config(name))
    return _current


def activate(config: InstanceConfig | None) -> Instance | None:
    """Make ``config`` the instance of this process (None: unload)."""
    global _current, _unavailable
    with _current_lock:
        _current = None if config is None else Instance(config)
        _unavailable = None
    return _current


def make_unavailable(reason: str) -> None:
    """Refuse every registry access in this process with ``reason`` until :func:`activate` is called.

    A deployment that names its instance must never fall back to the process default when that
    instance cannot be loaded: its records would land in the wrong registry.
    """
    global _current, _unavailable
    with _current_lock:
        _current = None
        _unavailable = reason
