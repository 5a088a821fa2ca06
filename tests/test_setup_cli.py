"""Instances and the `lamin` CLI: init, load, info, view, tree, delete."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from _cli import run_cli  # tests/_cli.py

import lamin_flows as ln
from lamin_flows.errors import InstanceNotFoundError, ValidationError


def test_no_instance_gives_a_clear_error():
    with pytest.raises(InstanceNotFoundError, match="ln.setup.init"):
        ln.File.select().all()


def test_init_names_and_reloads(tmp_path, lamin_home):
    config = ln.setup.init(storage=tmp_path / "mydata")
    assert config.name == "mydata"
    assert ln.settings.storage == (tmp_path / "mydata").resolve()
    assert ln.setup.settings.storage.root == (tmp_path / "mydata").resolve()
    assert len(ln.Storage.select()) == 1 and ln.setup.settings.user.handle
    again = ln.setup.init(storage=tmp_path / "mydata")  # idempotent
    assert again.name == "mydata" and len(ln.Storage.select()) == 1
    with pytest.raises(ValidationError, match="already exists"):
        ln.setup.init(storage=tmp_path / "other", name="mydata")


def test_settings_and_sqlite_are_private(tmp_path, lamin_home):
    config = ln.setup.init(storage=tmp_path / "d")
    assert stat.S_IMODE(os.stat(lamin_home / "instances" / "d.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config.sqlite_path).st_mode) == 0o600


def test_load_switches_instances(tmp_path):
    ln.setup.init(storage=tmp_path / "one")
    ln.Tag(name="in-one").save()
    ln.setup.init(storage=tmp_path / "two")
    assert ln.Tag.select(name="in-one").one_or_none() is None
    ln.setup.load("one")
    assert ln.Tag.select(name="in-one").one().name == "in-one"
    with pytest.raises(InstanceNotFoundError, match="nope"):
        ln.setup.load("nope")


def test_second_storage_becomes_default(tmp_path):
    ln.setup.init(storage=tmp_path / "one")
    ln.settings.storage = tmp_path / "two"
    assert ln.settings.storage == (tmp_path / "two").resolve()
    assert len(ln.Storage.select()) == 2
    source = tmp_path / "x.txt"
    source.write_text("x")
    file = ln.File(source, key="x.txt").save()
    assert Path(file.path()) == (tmp_path / "two" / "x.txt").resolve()


def test_verbosity_hints(ln_sqlite, tmp_path, capsys):
    source = tmp_path / "h.txt"
    source.write_text("h")
    ln_sqlite.File(source, key="h.txt").save()
    ln_sqlite.settings.verbosity = 3
    ln_sqlite.File(source, key="h.txt")
    assert "existing" in capsys.readouterr().err
    ln_sqlite.settings.verbosity = 1
    ln_sqlite.File(source, key="h.txt")
    assert capsys.readouterr().err == ""


def test_cli_round_trip(tmp_path):
    home = tmp_path / "home"
    done = run_cli("init", "--storage", str(tmp_path / "clidata"), home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "clidata" / "a").mkdir()
    (tmp_path / "clidata" / "a" / "f.csv").write_text("1")
    code = "import lamin_flows as ln; ln.File(ln.settings.storage / 'a' / 'f.csv').save()"
    env = {**os.environ, "LAMIN_HOME": str(home)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path)
    info = run_cli("info", home=home, cwd=tmp_path)
    assert info.returncode == 0 and "clidata" in info.stdout
    tree = run_cli("tree", home=home, cwd=tmp_path)
    assert "f.csv" in tree.stdout, tree.stdout + tree.stderr
    view = run_cli("view", home=home, cwd=tmp_path)
    assert "File" in view.stdout and "Storage" in view.stdout
    refused = run_cli("delete", home=home, cwd=tmp_path)  # no name and no terminal: nothing to confirm with
    assert refused.returncode != 0 and "lamin delete NAME" in refused.stderr and "clidata" in refused.stderr
    gone = run_cli("delete", "clidata", "--force", home=home, cwd=tmp_path)
    assert gone.returncode == 0 and (tmp_path / "clidata" / "a" / "f.csv").exists()
    missing = run_cli("load", "clidata", home=home, cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "clidata" in missing.stderr


def test_delete_postgres_instance(tmp_path, pg_url):
    from _pg import empty_pg_schema

    empty_pg_schema(pg_url)
    ln.setup.init(storage=tmp_path / "pg", db=pg_url, name="pg")
    ln.Tag(name="x").save()
    ln.setup.delete("pg", force=True)
    with pytest.raises(InstanceNotFoundError):
        ln.setup.load("pg")
