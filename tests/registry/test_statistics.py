"""refresh_statistics: a failed ANALYZE only costs speed, so it is logged and never raised."""

import sqlalchemy as sa

from lamin_flows.registry import db


def test_failed_analyze_is_logged_not_raised(ln_sqlite, capsys):
    engine = sa.create_engine("sqlite://")
    ln_sqlite.settings.verbosity = 3
    db.refresh_statistics(engine, "no_such_table")  # SQLite: "no such table"; was an AttributeError
    assert "could not refresh the registry's statistics of 'no_such_table'" in capsys.readouterr().err
    ln_sqlite.settings.verbosity = 2
    db.refresh_statistics(engine, "no_such_table")
    assert capsys.readouterr().err == ""
