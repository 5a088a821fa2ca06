"""Helpers for the OpenLineage tests: the spec's own JSON schemas (tests/data/openlineage-spec), offline.

Every event is validated against the spec's RunEvent schema, and every facet in it against the
schema its ``_schemaURL`` names (the standard facets from the spec copy, ours from the package),
all resolved through one ``referencing`` registry, so no $ref leaves this machine.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

import lamin_flows.tracking

SPEC = Path(__file__).resolve().parent / "data" / "openlineage-spec"
OURS = Path(lamin_flows.tracking.__file__).parent / "openlineage_facets.json"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


def _registry() -> Registry:
    paths = [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json")), OURS]
    resources = []
    for path in paths:
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def _check(schema_url: str, instance: Any) -> None:
    Draft202012Validator({"$ref": schema_url}, registry=REGISTRY, format_checker=FormatChecker()).validate(instance)


def _facets(event: dict[str, Any]) -> list[dict[str, Any]]:
    found = [*event["run"].get("facets", {}).values(), *event["job"].get("facets", {}).values()]
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        for group in ("facets", "inputFacets", "outputFacets"):
            found.extend(dataset.get(group, {}).values())
    return found


def validate(event: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless ``event`` and each of its facets match their schemas."""
    _check(RUN_EVENT, event)
    for facet in _facets(event):
        _check(facet["_schemaURL"], facet)


def by_run(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Events grouped by run id, each group asserted to be START then exactly one terminal event."""
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        runs[event["run"]["runId"]].append(event)
    for run_id, group in runs.items():
        kinds = [e["eventType"] for e in group]
        assert kinds[0] == "START" and len(kinds) == 2 and kinds[1] in TERMINAL, f"run {run_id}: {kinds}"
    return dict(runs)


def read_file_events(path: Path) -> list[dict[str, Any]]:
    """Every event the file transport appended, validated."""
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for event in events:
        validate(event)
    return events


class Receiver:
    """A small OpenLineage HTTP endpoint on 127.0.0.1 that keeps what it is sent."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                receiver.events.append(json.loads(body))
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
