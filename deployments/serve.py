"""Serve the deployments of prefect.yaml from this one process, with their schedules.

A clone's entry point to :mod:`lamin_flows.tasks.serve` (an installed package has it as
``lamin deploy serve``); the usage, flags and exit statuses are documented there.

Usage:
    python deployments/serve.py                                # every deployment, as declared
    python deployments/serve.py --deployment nightly --interval 5 \\
        --param landing=/data/in --param tag=demo --instance demo
"""

from __future__ import annotations

import sys

from lamin_flows.tasks import serve
from lamin_flows.tasks.serve import *  # noqa: F403  (the script's functions under its own name, as before)

if __name__ == "__main__":
    sys.exit(serve.main())
