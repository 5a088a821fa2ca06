"""The benchmark steps, in the order of the table in issue 6 (importing a module registers its steps)."""

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
