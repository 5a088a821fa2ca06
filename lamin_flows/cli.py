"""The ``lamin`` command: set up, inspect and check instances from a shell.

Example:
    $ lamin init --storage ./mydata
    $ lamin info
    $ lamin tree sample_001
    $ lamin lineage reports/nightly.parquet
    $ lamin lineage export --openlineage --since 2026-01-01
    $ lamin verify --fix
    $ lamin delete mydata --force
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Optional

import click
import typer
from typer.core import TyperGroup

app = typer.Typer(
    name="lamin",
    help="lamin_flows: a registry of the files your pipelines read and write.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(exc: BaseException) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


@app.command()
def init(
    storage: str = typer.Option(..., "--storage", help="A local folder or a bucket URL (s3://bucket/prefix)."),
    db: Optional[str] = typer.Option(None, "--db", help="A PostgreSQL URL; default: SQLite under LAMIN_HOME."),
    name: Optional[str] = typer.Option(None, "--name", help="Instance name; default: the storage folder's name."),
) -> None:
    """Create an instance and make it the current one."""
    from lamin_flows import setup

    try:
        setup.init(storage=storage, db=db, name=name)
    except Exception as exc:
        _fail(exc)


@app.command()
def load(name: str = typer.Argument(..., help="The instance to use.")) -> None:
    """Make an existing instance the current one."""
    from lamin_flows import setup

    try:
        setup.load(name)
    except Exception as exc:
        _fail(exc)


@app.command()
def info() -> None:
    """Show the current instance, its storage and registry (no secrets)."""
    from lamin_flows import setup

    try:
        typer.echo(setup.info())
    except Exception as exc:
        _fail(exc)


@app.command()
def view(n: int = typer.Option(7, "-n", help="How many records per registry.")) -> None:
    """Show the latest records of every registry."""
    from lamin_flows.registry.view import view as show

    try:
        show(n)
    except Exception as exc:
        _fail(exc)


@app.command()
def tree(prefix: Optional[str] = typer.Argument(None, help="Only keys under this folder.")) -> None:
    """Show the registered files of the default storage as a tree."""
    from lamin_flows.registry.view import print_tree

    try:
        print_tree(prefix)
    except Exception as exc:
        _fail(exc)


class _LineageGroup(TyperGroup):
    """``lamin lineage KEY`` shows a File's lineage; ``lamin lineage export ...`` is a subcommand.

    Anything that is not a subcommand's name is a File key for ``show``, so the command of
    before keeps working; a File whose key is "export" is shown with ``lamin lineage show export``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


lineage_app = typer.Typer(
    cls=_LineageGroup,
    help="Where Files came from (lamin lineage KEY), and exporting lineage (lamin lineage export).",
    no_args_is_help=True,
)
app.add_typer(lineage_app, name="lineage")


@lineage_app.command("show")
def lineage(
    key: str = typer.Argument(..., help="The key (or id) of a registered File."),
    mermaid: bool = typer.Option(False, "--mermaid", help="Print Mermaid flowchart text instead of a tree."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Also write the graph to a .svg, .html or .mmd file."),
) -> None:
    """Show where a File came from: the runs and input files upstream of it."""
    from lamin_flows.registry.files_io import find_file

    try:
        graph = find_file(key).view_lineage()
        if mermaid:
            typer.echo(graph.to_mermaid(), nl=False)
        else:
            graph.print()
        if output:
            typer.echo(f"wrote {graph.write(output)}", err=True)
    except Exception as exc:
        _fail(exc)


@lineage_app.command("export")
def lineage_export(
    openlineage: bool = typer.Option(False, "--openlineage", help="As OpenLineage events, to the configured transport."),
    since: Optional[datetime] = typer.Option(
        None, "--since", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"],
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
    storage: Optional[str] = typer.Option(None, "--storage", help="Check only this storage root."),
    rehash: bool = typer.Option(False, "--rehash", help="Cloud: download and hash objects instead of trusting ETags."),
    min_age: float = typer.Option(
        3600.0, "--min-age", help="Seconds before a temporary file counts as abandoned (younger ones may be in use)."
    ),
) -> None:
    """Check every File record against its storage; exit 1 if data is missing, corrupt or left over."""
    from lamin_flows.verify import verify as check

    try:
        report = check(fix=fix, storage=storage, rehash=rehash, min_age=min_age)
    except Exception as exc:
        _fail(exc)
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def delete(
    name: str = typer.Argument(..., help="The instance to delete."),
    force: bool = typer.Option(False, "--force", help="Do not ask for confirmation."),
) -> None:
    """Delete an instance's registry and settings; the stored data is kept."""
    from lamin_flows import setup

    try:
        if not force:
            if not sys.stdin.isatty():
                raise ValueError(f"deleting instance {name!r} needs confirmation: add --force")
            typer.confirm(f"Delete instance {name!r}? Its stored data is kept.", abort=True)
        setup.delete(name, force=True)
    except typer.Abort:
        raise
    except Exception as exc:
        _fail(exc)


def main() -> None:
    """Entry point of the ``lamin`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
