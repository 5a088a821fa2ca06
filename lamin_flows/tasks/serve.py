"""Serve the deployments of prefect.yaml from this one process, with their schedules.

The same deployments as ``prefect deploy --all`` (same flows, names, parameters, tags and
schedules, read from ``prefect.yaml`` next to this file), but run by this process instead of
workers of a work pool: ``prefect.serve``. Flags override the schedule and the parameters, for
demos and tests.

Usage (from an installed package, or ``python deployments/serve.py ...`` in a clone):
    lamin deploy serve                                         # every deployment, as declared
    lamin deploy serve --deployment nightly --interval 5 \\
        --param landing=/data/in --param tag=demo --instance demo

The deployments are those of the ``prefect.yaml`` shipped in this package (``deployments/prefect.yaml``
in a clone is the same file); ``--file`` serves another.

Scheduled runs need a real Prefect server (Prefect's temporary server does not schedule):
    prefect server start
    export PREFECT_API_URL=http://127.0.0.1:4200/api
Without one, this script says so and exits with status 2 instead of waiting for runs that never come.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
DEFAULT_FILE = HERE / "prefect.yaml"  # packaged; deployments/prefect.yaml links to it
LOCAL_API_URL = "http://127.0.0.1:4200/api"
EXIT_NO_SERVER = 2
EXIT_BAD_ARGS = 64

NO_SERVER = f"""\
No Prefect server is configured (PREFECT_API_URL is not set), so Prefect would run a temporary
server that does not schedule runs: nothing would ever run. Start a server and point this shell at it:

    prefect server start                                  # in another terminal
    export PREFECT_API_URL={LOCAL_API_URL}

or `prefect config set PREFECT_API_URL={LOCAL_API_URL}` to remember it in your Prefect profile.
Then run this script again."""


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the deployments of prefect.yaml (schedules included) from this process.",
    )
    parser.add_argument(
        "--file",
        type=Path,
        default=DEFAULT_FILE,
        help="the prefect.yaml to read (default: the one lamin_flows ships, deployments/prefect.yaml in a clone)",
    )
    parser.add_argument(
        "--deployment",
        action="append",
        default=[],
        metavar="NAME",
        help="serve only this deployment (repeatable; default all)",
    )
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument(
        "--interval", type=float, metavar="SECONDS", help="run every SECONDS instead of the declared schedules"
    )
    schedule.add_argument("--cron", metavar="EXPR", help='run on this cron schedule instead, e.g. "*/5 * * * *"')
    schedule.add_argument(
        "--no-schedule", action="store_true", help="serve without schedules (runs start only when triggered)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a flow parameter (repeatable); VALUE is parsed as JSON if it can be, e.g. batch_size=100",
    )
    parser.add_argument(
        "--instance", metavar="NAME", help="the `instance` parameter: an instance name or lamin-instance/<block>"
    )
    parser.add_argument("--limit", type=int, metavar="N", help="run at most N flow runs at the same time")
    return parser.parse_args(argv)


def server_problem() -> str | None:
    """Why scheduled runs cannot work from here (no server configured, or not reachable), or None."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, get_current_settings, temporary_settings

    url = get_current_settings().api.url
    if not url:
        return NO_SERVER
    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):  # answer now, not after minutes of retries
        with get_client(sync_client=True) as client:
            error = client.api_healthcheck()
    if error is not None:
        return (
            f"The Prefect server at PREFECT_API_URL={url} does not answer ({type(error).__name__}: {error}).\n"
            f"Start it with `prefect server start` (it listens on {LOCAL_API_URL}), or fix PREFECT_API_URL."
        )
    return None


def parse_value(text: str) -> Any:
    """A parameter value: JSON if it parses (numbers, true/false/null, lists), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parameter_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--param`` and ``--instance`` as a dict of parameter values."""
    overrides: dict[str, Any] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--param {item!r}: write it as KEY=VALUE, e.g. --param landing=/data/in")
        overrides[key.strip()] = parse_value(value)
    if args.instance is not None:
        overrides["instance"] = args.instance
    return overrides


def read_deployments(path: Path, names: list[str]) -> list[dict[str, Any]]:
    """The deployment entries of a prefect.yaml (``{{ $VAR }}`` filled in from the environment, as `prefect deploy` does)."""
    import os

    import yaml
    from prefect.utilities.templating import apply_values

    if not path.exists():
        raise SystemExit(f"no deployments file at {path}: pass --file path/to/prefect.yaml")
    config = yaml.safe_load(path.read_text()) or {}
    # a list in, a list out: apply_values returns NotSet only for a str or NotSet template
    entries = cast(list[Any], apply_values(config.get("deployments") or [], dict(os.environ), remove_notset=False))
    known = [d.get("name") for d in entries]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"{path} declares no deployment named {unknown[0]!r}; it declares {known}")
    return [d for d in entries if not names or d.get("name") in names]


def schedules_of(entry: dict[str, Any], args: argparse.Namespace) -> list[Any]:
    """The schedules to serve: the flags' if given, else the entry's (cron, interval or rrule)."""
    from prefect.schedules import Cron, Interval, RRule

    if args.no_schedule:
        return []
    if args.interval is not None:
        return [Interval(args.interval)]
    if args.cron is not None:
        return [Cron(args.cron)]
    out = []
    for item in entry.get("schedules") or []:
        common = {k: item[k] for k in ("timezone", "active", "parameters", "slug") if item.get(k) is not None}
        if item.get("cron"):
            out.append(Cron(item["cron"], day_or=item.get("day_or", True), **common))
        elif item.get("interval"):
            out.append(Interval(float(item["interval"]), **common))
        elif item.get("rrule"):
            out.append(RRule(item["rrule"], **common))
        else:
            raise SystemExit(
                f"deployment {entry.get('name')!r}: a schedule needs cron, interval or rrule, got {item!r}"
            )
    return out


def triggers_of(entry: dict[str, Any]) -> list[Any]:
    """The entry's event triggers (``triggers:`` in prefect.yaml), validated as `prefect deploy` does."""
    from prefect.events import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
    out = []
    for i, spec in enumerate(entry.get("triggers") or [], start=1):
        out.append(adapter.validate_python({"name": f"{entry.get('name')}__automation_{i}", **spec}))
    return out


def to_deployment(entry: dict[str, Any], args: argparse.Namespace, overrides: dict[str, Any]) -> Any:
    """A RunnerDeployment of one prefect.yaml entry, with the command line's overrides applied."""
    from prefect.deployments.runner import EntrypointType
    from prefect.flows import Flow, load_flow_from_entrypoint

    name = entry.get("name")
    entrypoint = entry.get("entrypoint")
    if not name or not entrypoint:
        raise SystemExit(f"a deployment in {args.file} lacks a name or an entrypoint: {entry!r}")
    flow: Flow[..., Any] = load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)
    accepted = set(inspect.signature(flow.fn).parameters)
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        raise SystemExit(f"flow {flow.name!r} has no parameter {unknown[0]!r}; its parameters: {sorted(accepted)}")
    limit = entry.get("concurrency_limit")
    if isinstance(limit, dict):
        limit = limit.get("limit")
    return flow.to_deployment(
        name=name,
        schedules=schedules_of(entry, args),
        triggers=triggers_of(entry),
        parameters={**(entry.get("parameters") or {}), **overrides},
        description=entry.get("description"),
        tags=entry.get("tags"),
        version=entry.get("version"),
        concurrency_limit=limit,
        entrypoint_type=EntrypointType.MODULE_PATH if ":" not in entrypoint else EntrypointType.FILE_PATH,
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Check the server, build the deployments, serve them until interrupted.

    Args:
        argv: the command line (default ``sys.argv[1:]``); see the module docstring.
        prog: the command's name in the usage line (default: the script's).

    Returns:
        The exit status: 0 after serving, 2 without a reachable Prefect server, 64 for bad arguments.

    Example:
        >>> from lamin_flows.tasks.serve import main
        >>> main(["--deployment", "nightly", "--interval", "60"])  # serves until Ctrl-C
    """
    args = parse_args(argv, prog)
    problem = server_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_NO_SERVER
    overrides = parameter_overrides(args)
    deployments = [to_deployment(entry, args, overrides) for entry in read_deployments(args.file, args.deployment)]
    if not deployments:
        print(f"{args.file} declares no deployments", file=sys.stderr)
        return EXIT_BAD_ARGS

    from prefect import serve

    serve(*deployments, limit=args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
