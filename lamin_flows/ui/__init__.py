"""``lamin ui``: a read-only web app over the current instance's registry and its lineage.

Not imported by ``import lamin_flows``: the ``lamin ui`` command (or your code) imports it, and
with it Starlette, Jinja2 and uvicorn (which Prefect already brings).

Example:
    $ lamin ui --port 8765 --open
    >>> from lamin_flows.ui import create_app   # an ASGI app, e.g. for uvicorn or a test client
"""

from __future__ import annotations

from lamin_flows.ui.app import create_app

__all__ = ["create_app"]
