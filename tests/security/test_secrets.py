"""Secrets stay secret: a database password and storage credentials never reach the registry,
the messages and logs lamin_flows writes, a repr, ``lamin info``/``view``/``verify`` or an error.

They are kept in one place only, the instance settings file, readable by its owner alone.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from _cli import run_cli  # tests/_cli.py

import lamin_flows as ln

PASSWORD = "pw-Zq7-unguessable"  # the test server trusts 127.0.0.1, so any password connects


def _everything_in(url: str) -> str:
    """Every value of every table of a registry database, as text."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            out = []
            for table in sa.inspect(conn).get_table_names():
                out.extend(repr(row) for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')))
            return "\n".join(out)
    finally:
        engine.dispose()


def _cli(*args: str) -> str:
    done = run_cli(*args)
    return done.stdout + done.stderr


@pytest.mark.postgres
def test_database_password_never_shows(pg_db, tmp_path, capsys, caplog):
    url = sa.engine.make_url(pg_db).set(password=PASSWORD).render_as_string(hide_password=False)
    caplog.set_level(logging.INFO)  # lamin_flows' and the libraries' logs, as an application would keep them
    config = ln.setup.init(storage=tmp_path / "data", db=url, name="secret")
    source = tmp_path / "a.txt"
    source.write_text("a")
    file = ln.File(source, key="a.txt").save()
    ln.Tag(name="t").save()
    ln.view()
    from lamin_flows.registry import instance
    from lamin_flows.verify import verify

    shown = [
        repr(config),
        str(config),
        repr(ln.setup.settings),
        repr(ln.setup.settings.instance),
        repr(ln.settings),
        ln.setup.info(),
        repr(file),
        repr(instance.current().engine),
        repr(ln.Storage.select().one()),
        verify().summary(),
        _cli("info"),
        _cli("view"),
        _cli("verify"),
        _cli("tree"),
    ]
    captured = capsys.readouterr()
    shown += [captured.out, captured.err, caplog.text, _everything_in(url)]
    assert PASSWORD in config.db_url  # it is needed to connect...
    for text in shown:
        assert PASSWORD not in text, text
    settings_file = Path(os.environ["LAMIN_HOME"]) / "instances" / "secret.json"
    assert PASSWORD in settings_file.read_text()  # ...and kept in this one file,
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600  # readable by its owner only


def test_password_stays_out_of_errors(tmp_path):
    for url in (
        f"postgresql://u:{PASSWORD}@127.0.0.1:1/db",  # nothing listens there
        f"postgresql://u:{PASSWORD}@127.0.0.1:notaport/db",
        f"postgresql://u:{PASSWORD}@127.0.0.1:5432/db?sslmode=bogus",
        f"postgresql+nodriver://u:{PASSWORD}@127.0.0.1/db",
    ):
        out = _cli("init", "--storage", str(tmp_path / "d"), "--db", url)
        assert out.startswith("error:") and PASSWORD not in out, out
        with pytest.raises(Exception) as caught:
            ln.setup.init(storage=tmp_path / "d", db=url, name="bad")
        assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
    assert not (Path(os.environ["LAMIN_HOME"]) / "instances" / "bad.json").exists()  # nothing half set up


def test_storage_credentials_never_show(moto_server, tmp_path, capsys, caplog):
    import _s3

    secret = "s3-secret-Hk29-unguessable"
    with _s3.aws_test_env(moto_server, AWS_ENDPOINT_URL=None, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None):
        _s3.clear_s3fs_instances()
        bucket = _s3.create_bucket(moto_server)
        options = {"endpoint_url": moto_server, "key": "lamin-test-key", "secret": secret}
        caplog.set_level(logging.INFO)
        config = ln.setup.init(storage=f"s3://{bucket}/root", storage_options=options, name="s3secret")
        source = tmp_path / "a.txt"
        source.write_text("a")
        file = ln.File(source, key="a.txt").save()
        from lamin_flows.verify import verify

        shown = [repr(config), ln.setup.info(), repr(file), repr(file._backend()), verify().summary()]
        shown += [_cli("info"), _cli("view"), _cli("verify")]
        with _s3.iam_enforced(moto_server):  # the server now refuses these credentials: the error names the bucket only
            _s3.clear_s3fs_instances()
            with pytest.raises(OSError) as caught:
                ln.File(source, key="b.txt")
            shown.append(f"{caught.value!r} {caught.value}")
        captured = capsys.readouterr()
        shown += [captured.out, captured.err, caplog.text, _everything_in(config.url)]
        for text in shown:
            assert secret not in text, text
        _s3.clear_s3fs_instances()
