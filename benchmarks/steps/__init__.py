"""The benchmark steps, in the order of the table in issue 6 (importing a module registers its steps).

The order of the imports is the order of the steps: keep it (isort is off here).
"""

# isort: off
from benchmarks.steps import imports  # noqa: F401
from benchmarks.steps import registering  # noqa: F401
from benchmarks.steps import large_file  # noqa: F401
from benchmarks.steps import dataframe  # noqa: F401
from benchmarks.steps import queries  # noqa: F401
from benchmarks.steps import tracking  # noqa: F401
from benchmarks.steps import openlineage  # noqa: F401
from benchmarks.steps import versions  # noqa: F401
from benchmarks.steps import cache  # noqa: F401
from benchmarks.steps import prefect_events  # noqa: F401
from benchmarks.steps import s3  # noqa: F401
from benchmarks.steps import s3_lock  # noqa: F401
from benchmarks.steps import postgres  # noqa: F401
from benchmarks.steps import scale  # noqa: F401
from benchmarks.steps import writers  # noqa: F401
from benchmarks.steps import memory  # noqa: F401
from benchmarks.steps import ui  # noqa: F401
# isort: on
