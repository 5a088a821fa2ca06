"""Settings: one pydantic-settings class, read from ``LAMIN_*`` environment variables.

Only this module reads the environment. Everything else asks :func:`get_settings`.

Example:
    >>> import lamin_flows as ln
    >>> ln.settings.verbosity = 3   # show hints
"""

from __future__ import annotations

import getpass
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings of lamin_flows (environment prefix ``LAMIN_``)."""

    model_config = SettingsConfigDict(env_prefix="LAMIN_", validate_assignment=True, extra="ignore")

    home: Path = Field(
        default=Path("~/.lamin"),
        description="Folder for instance settings, SQLite registries of cloud instances and the cache.",
    )
    instance: str | None = Field(
        default=None,
        description="Name of the instance to use; overrides the one remembered by `ln.setup.init/load`.",
    )
    verbosity: int = Field(
        default=2,
        ge=0,
        le=3,
        description="0 errors only, 1 warnings, 2 info and success messages, 3 also hints.",
    )
    user: str | None = Field(
        default=None,
        description="Handle of the current user; defaults to the login name of the process.",
    )
    workers: int = Field(
        default=8,
        ge=1,
        description="Threads for parallel copies, uploads and downloads.",
    )
    sqlite_busy_timeout: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds a write to a SQLite registry waits for another process's write lock before it gives up"
            " with RegistryBusyError."
        ),
    )
    large_file_threshold: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description=(
            "Files of at least this many bytes are hashed with BLAKE3 (multi-threaded) instead of MD5;"
            " the File's hash_type records which."
        ),
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Where cloud objects are staged; defaults to <home>/cache.",
    )
    gc_freeze: bool = Field(
        default=True,
        description=(
            "Move the objects of the large libraries lamin_flows loads (SQLAlchemy, pandas) out of the"
            " garbage collector's scans with gc.freeze(); saves ~0.1 s per process and per 10,000 Files."
        ),
    )

    openlineage: bool | None = Field(
        default=None,
        description=(
            "Emit an OpenLineage event when each tracked Run starts and ends (needs `lamin-flows[openlineage]`)."
            " Unset: on when OpenLineage is configured its standard way (OPENLINEAGE_URL, OPENLINEAGE_CONFIG,"
            " OPENLINEAGE__TRANSPORT__*, openlineage.yml); true: always, with the client's console fallback;"
            " false: never."
        ),
    )
    openlineage_namespace: str | None = Field(
        default=None,
        description="The OpenLineage job namespace of tracked Runs; defaults to the instance name.",
    )

    prefect_events: bool | None = Field(
        default=None,
        description=(
            "Emit a Prefect event for every saved File (lamin.file.saved) and ended Run (lamin.run.completed,"
            " lamin.run.failed). Unset: on when a Prefect API is configured (PREFECT_API_URL, or the Prefect"
            " settings of a process that imported Prefect) or a flow is running; false: never; true: always."
        ),
    )
    ui_url: str | None = Field(
        default=None,
        description=(
            "Base URL of `lamin ui` (e.g. http://127.0.0.1:8765); Prefect artifacts then link the run to"
            " <ui_url>/runs/<id> and each File to <ui_url>/files/<id>."
        ),
    )

    @field_validator("home", "cache_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else Path(value).expanduser().absolute()

    @property
    def user_handle(self) -> str:
        """The current user's handle (``LAMIN_USER`` or the login name)."""
        if self.user:
            return self.user
        try:
            return getpass.getuser()
        except Exception:  # no login name in some containers  # noqa: BLE001
            return "unknown"

    @property
    def cache_root(self) -> Path:
        """The folder under which cloud objects are cached."""
        return self.cache_dir or self.home / "cache"


def openlineage_configured() -> bool:
    """Whether OpenLineage is configured in one of the ways its client looks for.

    A cheap look (environment variables and the two default ``openlineage.yml`` places) that
    spares importing the client (~0.5 s) in processes that never configured it; the client
    itself then decides which transport that configuration means.
    """
    if os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"):
        return True
    if any(name.startswith("OPENLINEAGE__TRANSPORT") for name in os.environ):
        return True
    places = (Path.cwd() / "openlineage.yml", Path("~/.openlineage/openlineage.yml").expanduser())
    return any(place.is_file() for place in places)


def prefect_api_url_from_env() -> str | None:
    """``PREFECT_API_URL`` as set in the environment (a cheap look that imports no Prefect)."""
    return os.environ.get("PREFECT_API_URL") or None


def prefect_ui_url() -> str | None:
    """The Prefect UI's base URL: ``PREFECT_UI_URL``, else ``PREFECT_API_URL`` without its ``/api``.

    ``lamin ui`` links a Run started by a Prefect flow run to ``<this>/runs/flow-run/<id>``;
    None (no link) when neither is set.

    Example:
        >>> prefect_ui_url()   # with PREFECT_API_URL=http://127.0.0.1:4200/api
        'http://127.0.0.1:4200'
    """
    ui = os.environ.get("PREFECT_UI_URL")
    if ui:
        return ui.rstrip("/")
    api = prefect_api_url_from_env()
    if not api:
        return None
    api = api.rstrip("/")
    return api[: -len("/api")] if api.endswith("/api") else api


def temporary_prefect_server_notice(timeout_seconds: int = 120) -> str | None:
    """Prepare a process whose flows may start Prefect's temporary server, before Prefect is imported.

    Without ``PREFECT_API_URL``, the first flow call starts a temporary Prefect server, silently;
    on a loaded 2-core machine it can take longer than Prefect's default 20 s to answer and the
    run fails with "Timed out while attempting to connect to ephemeral Prefect API server". This
    gives it ``timeout_seconds`` (unless ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` is
    already set) and returns the line to print so the wait is not silence.

    Returns:
        The message to show, or None when a Prefect API is configured (no temporary server).

    Example:
        >>> from lamin_flows.config import temporary_prefect_server_notice
        >>> if (notice := temporary_prefect_server_notice()):
        ...     print(notice)
    """
    if prefect_api_url_from_env():
        return None
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(timeout_seconds))
    limit = os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]
    return (
        f"Starting Prefect's temporary server (no PREFECT_API_URL set); this can take up to {limit} s on a busy"
        " machine. For a lasting one: `prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide :class:`Settings` (read from the environment once)."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings so the next call re-reads the environment (tests use this)."""
    get_settings.cache_clear()
