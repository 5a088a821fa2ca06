"""Prefect Blocks of lamin_flows (the ``prefect.collections`` entry point loads this module).

:class:`LaminInstance` names a lamin_flows instance (its storage root, its registry database and
the storage options) for deployments and workers: the deployment names the block, the process
that runs the flow loads it from the Prefect API and uses the instance it describes, without
writing anything under ``LAMIN_HOME``. The database URL and the storage options are secret
fields: Prefect stores them encrypted and never shows them in the UI, in the API or in logs.

Prefect imports this module whenever it looks for block types (every worker, ``prefect block``
commands, the server at start-up), so it imports nothing of the registry until a block is used.

Example:
    Once, where the instance lives (the server registers the block type by itself; ``prefect
    block register -m lamin_flows.tasks.blocks`` does it for a server without lamin_flows)::

        >>> from lamin_flows.tasks.blocks import LaminInstance
        >>> LaminInstance(
        ...     storage_root="s3://acme-data/lamin",
        ...     db_url="postgresql+psycopg://lamin:secret@db.internal/lamin",
        ... ).save("prod")

    In a deployment: the parameter ``instance: lamin-instance/prod`` of ``ingest_landing``, or in
    any flow::

        >>> LaminInstance.load("prod").activate()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect.blocks.core import Block
from prefect.types import SecretDict
from pydantic import Field, SecretStr

if TYPE_CHECKING:
    from lamin_flows.registry.instance import InstanceConfig

BLOCK_TYPE_SLUG = "lamin-instance"


class LaminInstance(Block):
    """A lamin_flows instance for deployments and workers: where its registry and its data live.

    Attributes:
        storage_root: the default storage, a bucket URL (``s3://bucket/prefix``) or a folder
            every machine that runs the flow can reach.
        db_url: the registry database, a PostgreSQL URL (secret). Empty: a SQLite file under
            ``LAMIN_HOME`` of each machine, which only suits a single machine.
        storage_options: options for the cloud filesystem, e.g. ``{"endpoint_url": ...}`` or
            keys (secret).
        name: the instance name; default the block's name.

    Example:
        >>> block = LaminInstance.from_instance("prod")     # from `lamin init ... --name prod`
        >>> block.save("prod", overwrite=True)
        >>> LaminInstance.load("prod").activate()           # in a flow run, on a worker
    """

    _block_type_name = "Lamin Instance"
    _block_type_slug = BLOCK_TYPE_SLUG
    _description = (
        "A lamin_flows instance (registry database and default storage) for deployments and workers."
        " Reference it from a deployment as the `instance` parameter `lamin-instance/<block name>`."
    )
    _code_example = """
    ```python
    from lamin_flows.tasks.blocks import LaminInstance

    LaminInstance(storage_root="s3://bucket/lamin", db_url="postgresql+psycopg://user:pw@host/lamin").save("prod")
    LaminInstance.load("prod").activate()   # this process now uses the instance
    ```
    """

    storage_root: str = Field(
        ...,
        description="Default storage: a bucket URL such as s3://bucket/prefix, or a folder all runners can reach.",
    )
    db_url: SecretStr | None = Field(
        default=None,
        description="Registry database, e.g. postgresql+psycopg://user:password@host:5432/lamin. Empty: SQLite per machine.",
    )
    storage_options: SecretDict = Field(
        default_factory=lambda: SecretDict({}),
        description='Options for the cloud filesystem, e.g. {"endpoint_url": "https://minio:9000"}.',
    )
    name: str | None = Field(
        default=None,
        description="Instance name (names its SQLite file and shows in messages); default the block's name.",
    )

    def instance_name(self) -> str:
        """The instance name: ``name``, else the block's name, else the storage folder's name."""
        if self.name:
            return self.name
        if self._block_document_name:
            return self._block_document_name
        from lamin_flows.setup import _default_name

        return _default_name(self.storage_root)

    def config(self) -> InstanceConfig:
        """The instance configuration, secrets included; it never appears in logs (its repr hides them).

        Returns:
            An :class:`~lamin_flows.registry.instance.InstanceConfig`.

        Example:
            >>> LaminInstance.load("prod").config()
            Instance(name='prod', storage='s3://acme-data/lamin', db='postgresql+psycopg://lamin:***@db.internal/lamin')
        """
        from lamin_flows.registry.instance import InstanceConfig
        from lamin_flows.storage import root_of

        db_url = self.db_url.get_secret_value() if self.db_url is not None else None
        options = dict(self.storage_options.get_secret_value() or {})
        return InstanceConfig(
            name=self.instance_name(),
            storage_root=root_of(self.storage_root),
            db_url=db_url or None,
            storage_options=options,
        )

    def activate(self) -> InstanceConfig:
        """Use this instance in the current process (not remembered, nothing written under ``LAMIN_HOME``).

        Returns:
            The instance configuration now in use.

        Example:
            >>> LaminInstance.load("prod").activate()
        """
        from lamin_flows import _logging
        from lamin_flows.setup import use

        config = use(self.config())
        if config.db_url is None:
            _logging.hint(
                f"instance {config.name!r} has no db_url: its registry is a SQLite file on this machine;"
                " give the block a PostgreSQL db_url to share one registry between machines"
            )
        return config

    @classmethod
    def from_instance(cls, name: str | None = None) -> LaminInstance:
        """A block with the settings of a local instance (the current one by default), to save.

        Args:
            name: an instance under ``LAMIN_HOME``; default the current instance.

        Returns:
            An unsaved block; ``.save("block-name")`` stores it on the Prefect server.

        Example:
            >>> LaminInstance.from_instance("prod").save("prod", overwrite=True)
        """
        from lamin_flows.registry import instance

        config = instance.read_config(name) if name else instance.current().config
        return cls(
            storage_root=config.storage_root,
            db_url=SecretStr(config.db_url) if config.db_url else None,
            storage_options=SecretDict(dict(config.storage_options or {})),
            name=config.name,
        )


def block_reference(block_name: str) -> str:
    """The ``instance`` parameter value that names a ``LaminInstance`` block: ``lamin-instance/<name>``.

    Example:
        >>> block_reference("prod")
        'lamin-instance/prod'
    """
    return f"{BLOCK_TYPE_SLUG}/{block_name}"
