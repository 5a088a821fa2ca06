"""Every table of the registry, so migrations and lookups see the whole schema."""

from sqlmodel import SQLModel

from lamin_flows._gc import settle
from lamin_flows.registry.file import File
from lamin_flows.registry.models import (
    FileProjectLink,
    FileStat,
    FileTagLink,
    InstanceRow,
    Project,
    Run,
    RunInputLink,
    Storage,
    Tag,
    Transform,
    User,
)

metadata = SQLModel.metadata

REGISTRIES = {cls.__name__: cls for cls in (Storage, User, Transform, Run, File, Tag, Project)}
LINKS = (FileTagLink, FileProjectLink, RunInputLink)
STAT_CACHE = FileStat
OWNERSHIP = InstanceRow  # not a registry: one row per instance using this database

settle()  # the registry layer is loaded: keep the collector off its ~90,000 long-lived objects
