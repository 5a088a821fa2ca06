"""The ``lamin`` command: set up, inspect and check instances from a shell.

Example:
    $ lamin init --storage ./mydata
    $ lamin info
    $ lamin tree sample_001 --depth 1
    $ lamin files --filter key__startswith=raw/ --columns key,size --json
    $ lamin runs --filter status=failed --limit 5
    $ lamin lineage reports/nightly.parquet
    $ lamin lineage export --openlineage --since 2026-01-01
    $ lamin verify --fix
    $ lamin ui --open              # a web page over the registry and its lineage
    $ lamin list
    $ lamin close
    $ lamin delete mydata          # without a terminal (a notebook's !lamin): moves the registry aside
    $ lamin delete mydata --force  # deletes the registry for good
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import typer
from typer.core import TyperGroup

from lamin_flows import __version__


def _plain_argument_help() -> None:
    """Arguments in help as ``KEY`` (not ``{KEY}`` in the usage line and ``KEY <str>`` below):
    typer's plain help marks them so; the metavar and the help text already say what goes there."""
    from typer.core import TyperArgument

    def usage_name(self: TyperArgument) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
    TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]


_plain_argument_help()

app = typer.Typer(
    name="lamin",
    help="lamin_flows: a registry of the files your pipelines read and write.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no "<bool>"/"<str>" type column, fast to print
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every subcommand
)

# One option of each kind, shared by every listing command (scripts rely on the same names).
JSON = typer.Option(False, "--json", help="Print JSON (full ids, sizes in bytes, ISO times in UTC).")
CSV = typer.Option(False, "--csv", help="Print CSV with a header line.")
WIDTH = typer.Option(None, "--width", metavar="COLUMNS", help="Table width; default: the terminal's ($COLUMNS).")


def _fail(exc: BaseException) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"lamin_flows {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """lamin_flows: a registry of the files your pipelines read and write."""


def _output(as_json: bool, as_csv: bool) -> str:
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv")
    return "json" if as_json else "csv" if as_csv else "table"


def _emit(listing: Any, fmt: str, width: int | None = None) -> None:
    """Print a listing as a table (notes on stdout) or as JSON/CSV (notes on stderr, so output parses)."""
    if fmt == "table":
        typer.echo(listing.render(width))
        return
    typer.echo(listing.to_json() if fmt == "json" else listing.to_csv(), nl=fmt == "json")
    if listing.note:
        typer.echo(listing.note, err=True)


@app.command()
def init(
    storage: str = typer.Option(
        ..., "--storage", metavar="PATH|URL", help="A local folder or a bucket URL (s3://bucket/prefix)."
    ),
    db: str | None = typer.Option(
        None, "--db", metavar="URL", help="A PostgreSQL URL; default: SQLite under LAMIN_HOME."
    ),
    name: str | None = typer.Option(
        None, "--name", metavar="NAME", help="Instance name; default: the storage folder's name."
    ),
    share: bool = typer.Option(
        False, "--share", help="Use a storage or database another instance owns, on purpose (see `lamin init --help`)."
    ),
) -> None:
    """Create an instance and make it the current one."""
    from lamin_flows import setup

    try:
        setup.init(storage=storage, db=db, name=name, share=share)
    except Exception as exc:
        _fail(exc)


@app.command()
def load(name: str = typer.Argument(..., metavar="NAME", help="The instance to use.")) -> None:
    """Make an existing instance the current one."""
    from lamin_flows import setup

    try:
        setup.load(name)
    except Exception as exc:
        _fail(exc)


@app.command()
def info(as_json: bool = JSON, as_csv: bool = CSV) -> None:
    """Show the current instance, its storage and registry (no secrets)."""
    from lamin_flows import setup

    try:
        fmt = _output(as_json, as_csv)
        if fmt == "table":
            typer.echo(setup.info())
            return
        from lamin_flows.registry.listing import Listing

        fields = setup.info_fields()
        if fmt == "json":
            import json

            typer.echo(json.dumps(fields, indent=2))  # one instance: an object, not a list
        else:
            _emit(Listing("", list(fields), [fields]), fmt)
    except Exception as exc:
        _fail(exc)


@app.command()
def view(
    n: int = typer.Option(7, "-n", metavar="N", help="How many records per registry."),
    registry: list[str] | None = typer.Option(
        None, "--registry", "-r", metavar="NAME", help="Only this registry (File, Run, ...); repeatable."
    ),
    width: int | None = WIDTH,
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Show the latest records of every registry."""
    from lamin_flows.registry.view import view_listings

    try:
        fmt = _output(as_json, as_csv)
        listings = view_listings(n, registry)
        if fmt == "table":
            for listing in listings:
                listing.note = ""
                typer.echo(listing.render(width) + "\n")
        elif fmt == "json":
            import json

            typer.echo(json.dumps({lst.title.split(":")[0]: lst.records() for lst in listings}, indent=2, default=str))
        else:
            from lamin_flows.registry.listing import Listing

            columns = ["registry", *dict.fromkeys(c for lst in listings for c in lst.columns)]
            rows = [{"registry": lst.title.split(":")[0], **r} for lst in listings for r in lst.rows]
            _emit(Listing("", columns, rows), fmt)
    except typer.BadParameter:
        raise
    except Exception as exc:
        _fail(exc)


@app.command()
def tree(
    prefix: str | None = typer.Argument(None, metavar="PREFIX", help="Only keys under this folder."),
    depth: int | None = typer.Option(
        None, "--depth", "-d", metavar="N", min=1, help="Open N folder levels; deeper ones show counts and sizes."
    ),
    limit: int = typer.Option(100, "--limit", "-n", metavar="N", min=0, help="At most N lines; 0: all."),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Show the registered files of the default storage as a tree."""
    from lamin_flows.registry.tree import build_tree, print_tree, tree_listing

    try:
        fmt = _output(as_json, as_csv)
        if fmt == "table":
            print_tree(prefix, level=depth, limit=limit)
            return
        built = build_tree(prefix, level=depth, limit=limit)
        listing = tree_listing(built)
        if built.more:
            listing.note = f"... and {built.more:,} more entries; --limit 0 lists all"
        _emit(listing, fmt)
    except typer.BadParameter:
        raise
    except Exception as exc:
        _fail(exc)


def _filters(pairs: list[str]) -> dict[str, Any]:
    """``["key__startswith=raw/", "size__gt=10"]`` as query arguments; values stay text
    (the query layer turns them into numbers and dates), except lists for ``__in`` and
    true/false for ``__isnull``."""
    filters: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--filter {pair!r}: write FIELD=VALUE, e.g. --filter key__startswith=raw/")
        parsed: Any = value
        if name.endswith("__in"):
            parsed = [v for v in value.split(",") if v]
        elif name.endswith("__isnull"):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"--filter {pair!r}: __isnull takes true or false")
            parsed = value.lower() in ("true", "1", "yes")
        filters[name] = parsed
    return filters


def _columns(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [c.strip() for value in values for c in value.split(",") if c.strip()]


def _list_records(
    registry: str, filters: list[str], columns: list[str] | None, limit: int, order_by: str, fmt: str, width: int | None
) -> None:
    from lamin_flows.registry.classes import registry_class
    from lamin_flows.registry.listing import check_columns, listing_of

    model = registry_class(registry)
    chosen = check_columns(model, _columns(columns))  # before any query: bad input changes and costs nothing
    query = model.select(**_filters(filters)).order_by(*[o for o in order_by.split(",") if o])
    total = query.count()
    listing = listing_of(query.limit(limit) if limit else query, chosen, total=total)
    if listing.note:
        listing.note += f" {registry} records; --limit 0 lists all"
    _emit(listing, fmt, width)


FILTER = typer.Option(
    None, "--filter", "-f", metavar="FIELD=VALUE", help="A query filter such as key__startswith=raw/; repeatable."
)
COLUMNS = typer.Option(None, "--columns", "-c", metavar="A,B", help="Only these columns, in this order.")
LIMIT = typer.Option(50, "--limit", "-n", metavar="N", min=0, help="At most N records (latest first); 0: all.")
ORDER = typer.Option("-created_at", "--order-by", metavar="FIELD", help="Sort field; a leading - sorts descending.")


def _listing_command(registry: str, doc: str) -> None:
    def command(
        filter: list[str] | None = FILTER,
        columns: list[str] | None = COLUMNS,
        limit: int = LIMIT,
        order_by: str = ORDER,
        width: int | None = WIDTH,
        as_json: bool = JSON,
        as_csv: bool = CSV,
    ) -> None:
        try:
            _list_records(registry, filter or [], columns, limit, order_by, _output(as_json, as_csv), width)
        except typer.BadParameter:
            raise
        except Exception as exc:
            _fail(exc)

    command.__doc__ = doc
    app.command(name=registry.lower() + "s")(command)


_listing_command("File", "List registered Files, latest first (e.g. --filter key__startswith=raw/ --json).")

CACHED_COLUMNS = ["transform", "status", "id", "reused_id", "started_at"]


@app.command(name="runs")
def runs_command(
    filter: list[str] | None = FILTER,
    columns: list[str] | None = COLUMNS,
    limit: int = LIMIT,
    order_by: str = ORDER,
    cached: bool = typer.Option(
        False, "--cached", help="Only Runs that reused an earlier Run (status cached), with the Run each reused."
    ),
    width: int | None = WIDTH,
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """List Runs with their Transform's name, latest first (e.g. --filter status=failed, --cached)."""
    try:
        if cached:
            filter = [*(filter or []), "status=cached"]
            columns = columns or CACHED_COLUMNS
        _list_records("Run", filter or [], columns, limit, order_by, _output(as_json, as_csv), width)
    except typer.BadParameter:
        raise
    except Exception as exc:
        _fail(exc)


_listing_command("Transform", "List Transforms (functions, flows), latest first.")


class _LineageGroup(TyperGroup):
    """``lamin lineage KEY`` shows a File's lineage; ``lamin lineage export ...`` is a subcommand.

    Anything that is not a subcommand's name is a File key for ``show``, so the command of
    before keeps working; a File whose key is "export" is shown with ``lamin lineage show export``.
    """

    # ctx: a click Context: of the click copy newer typer versions ship inside typer, or of the click package
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


deploy_app = typer.Typer(
    help="Run the ready-made Prefect deployments (their prefect.yaml ships with the package).", no_args_is_help=True
)
app.add_typer(deploy_app, name="deploy")


@deploy_app.command(
    "serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
)
def deploy_serve(ctx: typer.Context) -> None:
    """Serve the deployments of prefect.yaml (schedules and event triggers included) from this process.

    Every option goes to the server script: --deployment NAME, --interval SECONDS, --cron EXPR,
    --no-schedule, --param KEY=VALUE, --instance NAME, --limit N, --file PATH; `lamin deploy serve --help`
    lists them. Needs a real Prefect server (PREFECT_API_URL): its temporary server does not schedule runs.
    """
    from lamin_flows.tasks.serve import main as serve_main

    raise typer.Exit(serve_main(list(ctx.args), prog="lamin deploy serve"))


lineage_app = typer.Typer(
    cls=_LineageGroup,
    help="Where Files came from (lamin lineage KEY), and exporting lineage (lamin lineage export).",
    no_args_is_help=True,
)
app.add_typer(lineage_app, name="lineage")


@lineage_app.command("show")
def lineage(
    key: str = typer.Argument(..., metavar="KEY", help="The key (or id) of a registered File."),
    mermaid: bool = typer.Option(False, "--mermaid", help="Print Mermaid flowchart text instead of a tree."),
    output: str | None = typer.Option(
        None, "--output", "-o", metavar="PATH", help="Also write the graph to a .svg, .png, .html or .mmd file."
    ),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Show where a File came from: the runs and input files upstream of it."""
    from lamin_flows.registry.files_io import find_file
    from lamin_flows.tracking.lineage import check_output

    try:
        fmt = _output(as_json, as_csv)
        if output:
            check_output(output)  # a suffix we cannot write fails before any query or printing
        graph = find_file(key).view_lineage()
        if fmt == "json":
            typer.echo(graph.to_json())
        elif fmt == "csv":
            typer.echo(graph.to_csv(), nl=False)
        elif mermaid:
            typer.echo(graph.to_mermaid(), nl=False)
        else:
            graph.print()
        if output:
            typer.echo(f"wrote {graph.write(output)}", err=True)
    except typer.BadParameter:
        raise
    except Exception as exc:
        _fail(exc)


@lineage_app.command("export")
def lineage_export(
    openlineage: bool = typer.Option(
        False, "--openlineage", help="As OpenLineage events, to the configured transport."
    ),
    since: datetime | None = typer.Option(
        None,
        "--since",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"],
        help="Only Runs started at or after this date (UTC), e.g. 2026-01-31.",
    ),
) -> None:
    """Emit the lineage of the Runs already in the registry (OpenLineage: START and end events)."""
    if not openlineage:
        _fail(ValueError("say which format to export: lamin lineage export --openlineage"))
    from lamin_flows.tracking import openlineage as ol

    try:
        sent = ol.export(since=since)
    except Exception as exc:
        _fail(exc)
    typer.echo(f"emitted {sent} OpenLineage events")


@app.command()
def verify(
    fix: bool = typer.Option(False, "--fix", help="Roll back interrupted saves and remove old temporary files."),
    storage: str | None = typer.Option(None, "--storage", metavar="ROOT", help="Check only this storage root."),
    rehash: bool = typer.Option(False, "--rehash", help="Cloud: download and hash objects instead of trusting ETags."),
    min_age: float = typer.Option(
        3600.0,
        "--min-age",
        metavar="SECONDS",
        help="Seconds before a temporary file counts as abandoned (younger ones may be in use).",
    ),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Check every File record against its storage; exit 1 if data is missing, corrupt or left over."""
    from lamin_flows.verify import verify as check

    try:
        fmt = _output(as_json, as_csv)
        report = check(fix=fix, storage=storage, rehash=rehash, min_age=min_age)
    except typer.BadParameter:
        raise
    except Exception as exc:
        _fail(exc)
    if fmt == "table":
        typer.echo(report.summary())
    else:
        _emit_report(report, fmt)
    if not report.ok:
        raise typer.Exit(code=1)


def _emit_report(report: Any, fmt: str) -> None:
    from dataclasses import asdict

    if fmt == "json":
        import json

        counts = {"records": report.records, "objects": report.objects, "hashed": report.hashed}
        findings = [asdict(f) for f in report.findings]
        document = {"ok": report.ok, "storages": report.storages, **counts, "findings": findings}
        typer.echo(json.dumps({**document, "fixed": [asdict(f) for f in report.fixed]}, indent=2))
        return
    from lamin_flows.registry.listing import Listing

    rows = [{"status": "found", **asdict(f)} for f in report.findings]
    rows += [{"status": "fixed", **asdict(f)} for f in report.fixed]
    _emit(Listing("", ["status", "kind", "storage", "key", "file_id", "detail"], rows), fmt)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def ui(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; anything but loopback exposes the registry."
    ),
    port: int = typer.Option(8765, "--port", help="Port to listen on."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default web browser."),
) -> None:
    """Serve a read-only web page over the current instance: Files, Runs, Transforms, lineage."""
    try:
        from lamin_flows.ui import create_app

        app_ = create_app()
    except Exception as exc:
        _fail(exc)
    import uvicorn

    if host not in LOOPBACK and not host.startswith("127."):
        typer.echo(
            f"warning: listening on {host}: the page has no authentication, so anyone who can reach this"
            " address can read the registry and download its files; use --host 127.0.0.1 to keep it local",
            err=True,
        )
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    typer.echo(f"lamin ui: {url} (Ctrl+C to stop)")
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command("list")
def list_instances(as_json: bool = JSON, as_csv: bool = CSV, width: int | None = WIDTH) -> None:
    """List the instances under LAMIN_HOME; the current one is marked with *."""
    from lamin_flows import setup
    from lamin_flows.registry.listing import Listing

    try:
        fmt = _output(as_json, as_csv)
        found = setup.instances()
        if fmt == "table":
            if not found:
                typer.echo("no instances yet; create one with `lamin init --storage ./mydata`")
                return
            rows = [{"": "*" if i["current"] else "", **i} for i in found]
            marker = [""] if any(i["current"] for i in found) else []  # "*" marks the current one
            listing = Listing(f"instances: {len(found)}", [*marker, "name", "storage", "registry"], rows)
            typer.echo(listing.render(width))
            return
        _emit(Listing("", ["name", "current", "storage", "registry"], found), fmt)
    except typer.BadParameter:
        raise
    except Exception as exc:
        _fail(exc)


@app.command()
def close() -> None:
    """Stop using the current instance (here and in new processes); nothing is deleted."""
    from lamin_flows import setup

    try:
        setup.close()
    except Exception as exc:
        _fail(exc)


@app.command()
def delete(
    name: str | None = typer.Argument(None, metavar="NAME", help="The instance to delete."),
    force: bool = typer.Option(False, "--force", help="Do not ask; delete the registry for good."),
) -> None:
    """Delete an instance's registry and settings; the stored data is kept.

    In a terminal, asks first. Without one (a notebook's `!lamin delete NAME`, a script), naming
    the instance is the confirmation: a SQLite registry is moved aside, not deleted, and the
    command prints where to. --force deletes the registry for good, without asking.
    """
    from lamin_flows import setup

    try:
        terminal = sys.stdin is not None and sys.stdin.isatty()
        if name is None:
            known = ", ".join(i["name"] for i in setup.instances()) or "none"
            if not terminal:
                raise ValueError(f"name the instance to delete: lamin delete NAME (instances: {known})")
            name = typer.prompt(f"Which instance? ({known})")
        if force:
            setup.delete(name, force=True)
            return
        if terminal:
            typer.confirm(f"Delete instance {name!r}? Its registry is moved aside, its stored data kept.", abort=True)
        setup.delete(name, keep_registry=True)
    except typer.Abort:
        raise
    except Exception as exc:
        _fail(exc)


def main() -> None:
    """Entry point of the ``lamin`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
