"""The benchmark steps, in the order of the table in issue 6 (importing a module registers its steps)."""

# the import order is the order of the steps in the table and in --list: not sorted
# isort: off
from benchmarks.steps import (  # noqa: F401
    imports,
    registering,
    large_file,
    dataframe,
    queries,
    tracking,
    openlineage,
    versions,
    cache,
    prefect_events,
    s3,
    s3_lock,
    postgres,
    memory,
    ui,
)
# isort: on
