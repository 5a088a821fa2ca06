"""The benchmark steps, in the order of the table in issue 6 (importing a module registers its steps)."""

from benchmarks.steps import (  # noqa: F401
    cache,
    dataframe,
    imports,
    large_file,
    memory,
    openlineage,
    postgres,
    prefect_events,
    queries,
    registering,
    s3,
    s3_lock,
    tracking,
    ui,
    versions,
)
