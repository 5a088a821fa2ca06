"""Instances: create (``init``), switch (``load``), remove (``delete``) and inspect them.

Example:
    >>> import lamin_flows as ln
    >>> ln.setup.init(storage="./mydata")                  # SQLite + a local folder
    >>> ln.setup.init(storage="s3://bucket", db="postgresql://localhost/lamin")
    >>> ln.setup.settings.storage.root
    PosixPath('/home/me/mydata')
"""

from __future__ import annotations

import os
import sys
from datetime import UTC
from pathlib import Path, PurePosixPath
from typing import Any

from lamin_flows import _logging
from lamin_flows.config import get_settings
from lamin_flows.errors import InstanceNotFoundError, ValidationError
from lamin_flows.registry import instance as _instance
from lamin_flows.registry.instance import InstanceConfig


class CloudPath(str):
    """A cloud URL that joins like a path: ``CloudPath("s3://b") / "x.csv"``."""

    def __truediv__(self, other: str) -> CloudPath:
        return CloudPath(f"{self.rstrip('/')}/{str(other).lstrip('/')}")

    @property
    def name(self) -> str:
        """The last segment of the URL."""
        return PurePosixPath(self.split("://", 1)[-1]).name

    def __repr__(self) -> str:
        return f"CloudPath({str(self)!r})"


def as_path(root: str) -> Path | CloudPath:
    """A local root as ``Path``, a cloud root as :class:`CloudPath`."""
    from lamin_flows.storage import is_cloud

    return CloudPath(root) if is_cloud(root) else Path(root)


def _default_name(root: str) -> str:
    from lamin_flows.storage import is_cloud

    if is_cloud(root):
        return PurePosixPath(root.split("://", 1)[1].rstrip("/")).name
    return Path(root).name


def _reset_caches() -> None:
    from lamin_flows.registry import storages

    storages._roots.clear()


def _check_reachable(backend: Any) -> None:
    """Fail before anything is written if a bucket is missing or the credentials are refused."""
    from lamin_flows.storage import MANAGED_PREFIX

    next(iter(backend.list(MANAGED_PREFIX)), None)


def init(
    *,
    storage: str | os.PathLike,
    db: str | None = None,
    name: str | None = None,
    storage_options: dict[str, Any] | None = None,
    share: bool = False,
) -> InstanceConfig:
    """Create an instance (or load it again, if one with these settings exists) and use it.

    A storage root and a registry database belong to one instance: the instance's id is written
    into both (``.lamindb/_owner.json`` in the root, the table ``lamin_instance``), and a second
    instance is refused there, as is a root inside or around a registered one.

    Args:
        storage: the default storage: a local folder (created if missing) or a bucket URL
            such as ``"s3://bucket/prefix"``.
        db: a PostgreSQL URL; default a SQLite file under ``LAMIN_HOME``.
        name: the instance name; default the storage folder's (or bucket's) name.
        storage_options: options for the cloud filesystem (e.g. ``{"endpoint_url": ...}``);
            kept in the instance settings file, readable by its owner only.
        share: use a storage root or database that another instance owns, on purpose. Both
            instances' saves still never overwrite bytes their own records do not point to,
            and neither's ``lamin verify --fix`` touches the other's saves.

    Returns:
        The instance configuration.

    Raises:
        StorageOwnedError: another instance owns the storage (or a folder around it), and
            ``share`` is not set.
        InstanceConflictError: another instance owns the PostgreSQL database, and ``share`` is
            not set.

    Example:
        >>> ln.setup.init(storage="./mydata")
        >>> ln.setup.init(storage="/shared/lab", name="bob", share=True)   # a colleague's storage, on purpose
    """
    from lamin_flows.registry.db import dispose_engine, get_engine
    from lamin_flows.registry.migrate import ensure_schema
    from lamin_flows.storage import get_backend, is_cloud, root_of

    text = os.fspath(storage)
    if not is_cloud(text):
        Path(text).expanduser().mkdir(parents=True, exist_ok=True)
    root = root_of(text)
    name = name or _default_name(root)
    if not name or "/" in name or name.startswith("."):
        raise ValidationError(f"instance name {name!r} is not usable; pass name='my-instance'")
    config = InstanceConfig(name=name, storage_root=root, db_url=db, storage_options=dict(storage_options or {}))
    if _instance.config_path(name).exists():
        existing = _instance.read_config(name)
        if (existing.storage_root, existing.db_url) != (root, db):
            raise ValidationError(
                f"an instance named {name!r} already exists with storage {existing.storage_root!r};"
                f" load it with ln.setup.load({name!r}), pick another name=, or `lamin delete {name}` first"
            )
        config = existing
    _check_reachable(get_backend(root, config.storage_options or None))
    if config.db_url is None:
        config.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        if not config.sqlite_path.exists():
            os.close(os.open(config.sqlite_path, os.O_WRONLY | os.O_CREAT, 0o600))
    engine = get_engine(config.url)
    try:
        ensure_schema(engine)
    except Exception as exc:
        dispose_engine(config.url)
        raise ValidationError(f"cannot set up the registry database of {config!r}: {exc}") from exc
    from lamin_flows.registry import ownership

    claimed = config.instance_id is None
    if claimed:
        config.instance_id = ownership.claim_database(engine, name, share=share)
    _reset_caches()
    inst = _instance.activate(config)
    assert inst is not None
    try:
        ownership.claim_storage(inst, root, share=share)
    except BaseException:
        if claimed:
            ownership.release_database(engine, config.instance_id)
        _instance.activate(None)
        raise
    _instance.write_config(config)
    _instance.remember_current(name)
    inst.storage_record()
    inst.user_id()
    _logging.success(f"instance {name!r}: storage {root}, registry {'SQLite' if db is None else 'PostgreSQL'}")
    return config


def load(name: str) -> InstanceConfig:
    """Use instance ``name`` from now on (also in new processes).

    Example:
        >>> ln.setup.load("mydata")
    """
    config = _instance.read_config(name)
    _instance.remember_current(name)
    _reset_caches()
    _instance.activate(config)
    _logging.success(f"loaded instance {name!r}")
    return config


def use(config: InstanceConfig) -> InstanceConfig:
    """Use an instance in this process only: nothing is written under ``LAMIN_HOME``.

    Unlike :func:`load`, the remembered current instance stays as it is and no settings file
    is written, so credentials handed over by a deployment (a ``LaminInstance`` block) never
    touch the disk of the machine that runs it. The registry schema is created or upgraded on
    first use, a local storage folder is created if missing.

    Args:
        config: the instance, e.g. from ``LaminInstance.load("prod").config()``.

    Returns:
        The same configuration.

    Example:
        >>> from lamin_flows.registry.instance import InstanceConfig
        >>> ln.setup.use(InstanceConfig(name="prod", storage_root="s3://bucket", db_url="postgresql://..."))
    """
    from lamin_flows.storage import is_cloud

    if not is_cloud(config.storage_root):
        Path(config.storage_root).expanduser().mkdir(parents=True, exist_ok=True)
    _reset_caches()
    _instance.activate(config)
    return config


def _n_files(config: InstanceConfig) -> int | None:
    try:
        import sqlalchemy as sa

        from lamin_flows.registry.db import get_engine

        with get_engine(config.url).connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM file")).scalar() or 0)
    except Exception:  # noqa: BLE001 - a registry that cannot be read has no count to show
        return None


SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")  # a SQLite database and the files beside it


def delete(name: str, *, force: bool = False, keep_registry: bool = False) -> Path | None:
    """Remove an instance's registry and settings; never its stored data.

    Args:
        name: the instance to delete.
        force: do not ask, even if the registry still lists Files; the registry is deleted for good.
        keep_registry: move a SQLite registry and the settings aside instead of deleting them,
            without asking (naming the instance is the confirmation); they can be moved back.
            A PostgreSQL registry cannot be moved aside and is refused (pass ``force=True``).

    Returns:
        The folder the registry was moved to (``keep_registry=True``), else None.

    Raises:
        InstanceNotFoundError: there is no instance ``name``.
        ValidationError: not a terminal and neither ``force`` nor ``keep_registry``; or
            ``keep_registry`` for a PostgreSQL registry.

    Example:
        >>> ln.setup.delete("mydata", force=True)
        >>> ln.setup.delete("mydata", keep_registry=True)   # what `lamin delete mydata` does in a notebook
        PosixPath('/home/me/.lamin/instances/deleted/mydata-20261202T130512Z')
    """
    config = _instance.read_config(name)
    if keep_registry:
        if config.db_url is not None:
            raise ValidationError(
                f"instance {name!r} keeps its registry in PostgreSQL, which cannot be moved aside; delete it for"
                f" good with `lamin delete {name} --force` (ln.setup.delete({name!r}, force=True))"
            )
        return _move_aside(config)
    n_files = _n_files(config)
    if not force:
        question = f"Delete instance {name!r} ({n_files or 0} File records)? Stored data is kept. [y/N] "
        if sys.stdin is None or not sys.stdin.isatty():
            raise ValidationError(
                f"deleting instance {name!r} needs confirmation: pass force=True (CLI: --force) to delete its"
                " registry for good, or keep_registry=True to move it aside"
            )
        if input(question).strip().lower() not in ("y", "yes"):
            _logging.info("nothing deleted")
            return None
    _release(config)
    if config.db_url is None:
        from lamin_flows.registry.db import dispose_engine

        dispose_engine(config.url)
        for suffix in SQLITE_SUFFIXES:
            Path(str(config.sqlite_path) + suffix).unlink(missing_ok=True)
    elif _shared_database(config):
        pass  # the tables are the other instances' registry too: only this instance's row went
    else:
        _drop_tables(config)
    _forget_instance(name)
    _logging.success(f"deleted instance {name!r}; the data in {config.storage_root} was kept")
    return None


def _release(config: InstanceConfig) -> None:
    """Take a deleted instance off its storage roots' owner markers and out of its database."""
    from lamin_flows.registry import ownership
    from lamin_flows.registry.db import get_engine

    try:
        engine = get_engine(config.url)
        ownership.release_storages(config, engine)
        ownership.release_database(engine, config.instance_id)
    except Exception as error:  # a registry that cannot be read any more is deleted all the same  # noqa: BLE001
        _logging.warning(f"could not release the storage of instance {config.name!r}: {error}")


def _shared_database(config: InstanceConfig) -> bool:
    from lamin_flows.registry import ownership
    from lamin_flows.registry.db import get_engine

    try:
        others = ownership.others_in_database(get_engine(config.url), config.instance_id)
    except Exception:  # noqa: BLE001 - cannot tell: assume no other instance, as before ownership existed
        return False
    if others:
        _logging.warning(
            f"the registry database of {config.name!r} is shared with {', '.join(map(repr, others))}: its tables stay"
        )
    return bool(others)


def _drop_tables(config: InstanceConfig) -> None:
    import sqlalchemy as sa

    from lamin_flows.registry.db import dispose_engine, get_engine
    from lamin_flows.registry.tables import metadata

    engine = get_engine(config.url)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    dispose_engine(config.url)


def _move_aside(config: InstanceConfig) -> Path:
    """Move a SQLite registry and its settings file into ``instances/deleted/<name>-<UTC time>/``."""
    from datetime import datetime

    from lamin_flows.registry.db import dispose_engine

    n_files = _n_files(config)
    _release(config)
    dispose_engine(config.url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = _instance.instances_dir() / "deleted" / f"{config.name}-{stamp}"
    for n in range(1, 1000):
        if not target.exists():
            break
        target = target.with_name(f"{config.name}-{stamp}-{n}")
    target.mkdir(parents=True, mode=0o700)
    moved = [Path(str(config.sqlite_path) + suffix) for suffix in SQLITE_SUFFIXES]
    for path in [*moved, _instance.config_path(config.name)]:
        if path.exists():
            os.replace(path, target / path.name)  # same file system: atomic, nothing copied
    _forget_instance(config.name)
    _logging.success(
        f"deleted instance {config.name!r} ({n_files or 0} File records): its registry and settings were moved to"
        f" {target}; the data in {config.storage_root} was kept. To restore it: mv {target}/* {target.parent.parent}/"
    )
    return target


def _forget_instance(name: str) -> None:
    from lamin_flows.registry.migrate import forget

    forget()
    _instance.config_path(name).unlink(missing_ok=True)
    if _instance.remembered_name() == name:
        _instance.remember_current(None)
        _instance.activate(None)
    _reset_caches()


def close() -> str | None:
    """Stop using the current instance, here and in new processes (nothing is deleted).

    Returns:
        The name of the instance that was current, or None if there was none.

    Example:
        >>> ln.setup.close()
        'mydata'
    """
    name = _instance.remembered_name()
    settings = get_settings()
    _instance.remember_current(None)
    _instance.activate(None)
    _reset_caches()
    if name is None:
        _logging.info("no instance was loaded; nothing to close")
        return None
    if settings.instance:
        _logging.warning(
            f"LAMIN_INSTANCE={settings.instance!r} is set, so processes started with it still use that instance;"
            " unset it to close it there too"
        )
    _logging.success(f"closed instance {name!r}; `lamin load {name}` uses it again")
    return name


def instances() -> list[dict[str, Any]]:
    """Every instance under ``LAMIN_HOME``, by name, the current one marked (no secrets).

    Returns:
        One dict per instance: ``name``, ``current`` (bool), ``storage``, ``registry``.

    Example:
        >>> [(i["name"], i["current"]) for i in ln.setup.instances()]
        [('mydata', True), ('scratch', False)]
    """
    from lamin_flows.registry.db import redact

    folder = _instance.instances_dir()
    current = _instance.remembered_name()
    found = []
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            config = _instance.read_config(path.stem)
        except Exception as exc:  # an unreadable settings file is listed, not fatal for the listing  # noqa: BLE001
            storage, registry = "", f"unreadable: {exc}"
        else:
            storage = config.storage_root
            registry = f"PostgreSQL {redact(config.db_url)}" if config.db_url else f"SQLite {config.sqlite_path}"
        found.append({"name": path.stem, "current": path.stem == current, "storage": storage, "registry": registry})
    return found


def info_fields() -> dict[str, str]:
    """The current instance's description as fields (no secrets), for ``lamin info --json``.

    Example:
        >>> ln.setup.info_fields()["storage"]
        '/home/me/mydata'
    """
    inst = _instance.current()
    config = inst.config
    from lamin_flows.registry.db import redact

    db = redact(config.db_url) if config.db_url else f"SQLite {config.sqlite_path}"
    return {
        "instance": config.name,
        "storage": str(config.storage_root),
        "registry": db,
        "user": str(get_settings().user_handle),
        "home": str(get_settings().home),
    }


def info() -> str:
    """A short description of the current instance (no secrets).

    Example:
        >>> print(ln.setup.info())
    """
    return "\n".join(f"{name + ':':<9} {value}" for name, value in info_fields().items())


class _StorageSettings:
    @property
    def root(self) -> Path | CloudPath:
        """The default storage root: a ``Path`` locally, a ``CloudPath`` for a bucket."""
        return as_path(_instance.current().config.storage_root)

    @property
    def root_as_str(self) -> str:
        """The default storage root as a string."""
        return _instance.current().config.storage_root

    @property
    def is_cloud(self) -> bool:
        """Whether the default storage is a bucket (s3://, gs://, ...) rather than a local folder."""
        from lamin_flows.storage import is_cloud

        return is_cloud(self.root_as_str)

    def __repr__(self) -> str:
        return f"StorageSettings(root={self.root_as_str!r})"


class _SetupSettings:
    """``ln.setup.settings``: the current instance, its default storage and the user."""

    @property
    def storage(self) -> _StorageSettings:
        """The default storage (``.root``)."""
        return _StorageSettings()

    @property
    def user(self) -> Any:
        """The current User record."""
        from lamin_flows.registry.models import User

        return User.select(id=_instance.current().user_id()).one()

    @property
    def instance(self) -> InstanceConfig:
        """The current instance's configuration."""
        return _instance.current().config

    def __repr__(self) -> str:
        try:
            return info()
        except InstanceNotFoundError as exc:
            return str(exc)


settings = _SetupSettings()


class UserSettings:
    """``ln.settings``: the default storage and how much lamin_flows tells you.

    Example:
        >>> ln.settings.storage                 # the default storage root
        >>> ln.settings.storage = "s3://other"  # add a storage location and make it the default
        >>> ln.settings.verbosity = 3           # show hints
    """

    @property
    def storage(self) -> Any:
        """The default storage root as a ``UPath`` (a ``pathlib.Path`` locally; ``.fs``, ``.iterdir()``,
        ``/`` for a bucket too); set it to add and use another."""
        from lamin_flows.registry.paths import instance_upath

        return instance_upath(_instance.current().config.storage_root)

    @storage.setter
    def storage(self, value: str | os.PathLike) -> None:
        from lamin_flows.storage import get_backend, is_cloud, root_of

        text = os.fspath(value)
        if not is_cloud(text):
            Path(text).expanduser().mkdir(parents=True, exist_ok=True)
        inst = _instance.current()
        root = root_of(text)
        _check_reachable(get_backend(root, inst.config.storage_options or None))
        from lamin_flows.registry import ownership

        ownership.claim_storage(inst, root)
        inst.config.storage_root = root
        inst._storage_id = None
        inst.storage_record()
        _instance.write_config(inst.config)
        _logging.success(f"default storage is now {root}")

    @property
    def verbosity(self) -> int:
        """0 errors, 1 warnings, 2 info (default), 3 hints."""
        return get_settings().verbosity

    @verbosity.setter
    def verbosity(self, value: int) -> None:
        import pydantic

        try:
            get_settings().verbosity = value
        except pydantic.ValidationError as exc:
            raise ValidationError(
                f"ln.settings.verbosity = {value!r}: it takes 0 (errors only), 1 (warnings), 2 (info, the default)"
                " or 3 (hints)"
            ) from exc

    def __setattr__(self, name: str, value: Any) -> None:
        # a typo (ln.settings.verbosty = 3) would otherwise set an attribute nothing reads
        if not isinstance(getattr(type(self), name, None), property):
            from lamin_flows.errors import did_you_mean

            names = [n for n, v in vars(type(self)).items() if isinstance(v, property)]
            raise ValidationError(
                f"ln.settings has no setting {name!r}.{did_you_mean(name, names)} Settings: {', '.join(names)};"
                " process-wide options are LAMIN_* environment variables (lamin_flows.config.Settings)"
            )
        super().__setattr__(name, value)

    def __repr__(self) -> str:
        try:
            storage = str(self.storage)
        except InstanceNotFoundError:
            storage = "<no instance>"
        return f"Settings(storage={storage!r}, verbosity={self.verbosity})"


user_settings = UserSettings()
