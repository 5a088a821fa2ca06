"""A tracked flow with ``cache=True`` for the worker test (a deployment's entrypoint: ``_cached_flow.py:count_words``)."""

from __future__ import annotations

from prefect import flow

import lamin_flows as ln
from lamin_flows.tasks.flows import _release_hook, _use_instance_hook


@flow(name="count-words", on_running=[_use_instance_hook], on_failure=[_release_hook], on_crashed=[_release_hook])
@ln.tracked(cache=True)
def count_words(key: str, instance: str | None = None) -> int:
    """The number of words in the File at ``key`` (its latest version)."""
    return len(ln.File.select(key=key).one().open().read().decode().split())
