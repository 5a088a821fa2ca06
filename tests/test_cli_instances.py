"""`lamin -h`, `lamin list`, `lamin close` and `lamin delete` through the real entry point.

stdin is never a terminal here (as in a notebook's `!lamin ...`), except where a pseudo-terminal
stands in for one.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from _cli import LAMIN, run_cli  # tests/_cli.py


def _init(tmp_path: Path, home: Path, name: str) -> Path:
    storage = tmp_path / name
    done = run_cli("init", "--storage", str(storage), home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return storage


def _save_a_file(home: Path, cwd: Path) -> None:
    code = "import lamin_flows as ln; p = ln.settings.storage / 'a.csv'; p.write_text('a\\n1\\n'); ln.File(p).save()"
    env = {**os.environ, "LAMIN_HOME": str(home)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=cwd, capture_output=True)


def test_h_is_help_everywhere(tmp_path) -> None:
    for args in (["-h"], ["delete", "-h"], ["list", "-h"], ["lineage", "-h"]):
        done = run_cli(*args, home=tmp_path)
        assert done.returncode == 0, (args, done.stderr)
        assert done.stdout.startswith("Usage: lamin"), args
    top = run_cli("-h", home=tmp_path).stdout
    for command in ("list", "close", "delete", "init", "load"):
        assert f"  {command} " in top
    assert run_cli("--version", home=tmp_path).stdout.startswith("lamin_flows ")


def test_list_marks_the_current_instance_and_close_forgets_it(tmp_path) -> None:
    home = tmp_path / "home"
    empty = run_cli("list", home=home)
    assert empty.returncode == 0 and "no instances yet" in empty.stdout and "lamin init" in empty.stdout
    assert run_cli("list", "--json", home=home).stdout.strip() == "[]"
    _init(tmp_path, home, "one")
    _init(tmp_path, home, "two")
    table = run_cli("list", home=home).stdout.splitlines()
    assert table[0] == "instances: 2"
    marked = {tokens[1] if tokens[0] == "*" else tokens[0]: tokens[0] == "*" for tokens in map(str.split, table[3:])}
    assert marked == {"one": False, "two": True}
    listed = json.loads(run_cli("list", "--json", home=home).stdout)
    assert [(i["name"], i["current"]) for i in listed] == [("one", False), ("two", True)]
    assert listed[0]["storage"] == str((tmp_path / "one").resolve())
    assert run_cli("list", "--csv", home=home).stdout.splitlines()[0] == "name,current,storage,registry"

    closed = run_cli("close", home=home)
    assert closed.returncode == 0 and "closed instance 'two'" in closed.stderr
    info = run_cli("info", home=home)
    assert info.returncode == 1 and "no lamin_flows instance is set up" in info.stderr
    assert not any(i["current"] for i in json.loads(run_cli("list", "--json", home=home).stdout))
    assert "*" not in run_cli("list", home=home).stdout
    again = run_cli("close", home=home)
    assert again.returncode == 0 and "nothing to close" in again.stderr
    assert run_cli("load", "one", home=home).returncode == 0
    assert json.loads(run_cli("list", "--json", home=home).stdout)[0]["current"] is True


def test_the_guides_last_cells_work_without_a_terminal_and_the_registry_can_be_restored(tmp_path) -> None:
    """`!lamin delete mydata` then `!rm -r mydata`, as the guide's notebook runs them."""
    home = tmp_path / "home"
    storage = _init(tmp_path, home, "mydata")
    _save_a_file(home, tmp_path)
    instances = home / "instances"

    done = run_cli("delete", "mydata", home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "deleted instance 'mydata' (1 File records)" in done.stderr
    moved_to = Path(done.stderr.split("were moved to ")[1].split(";")[0])
    assert moved_to.parent == instances / "deleted"
    assert sorted(p.name for p in moved_to.iterdir()) == ["mydata.json", "mydata.sqlite"]
    assert not (instances / "mydata.json").exists() and not (instances / "mydata.sqlite").exists()
    assert (storage / "a.csv").exists()  # the data is kept
    assert json.loads(run_cli("list", "--json", home=home).stdout) == []
    assert run_cli("load", "mydata", home=home).returncode == 1

    rm = subprocess.run(["rm", "-r", "mydata"], cwd=tmp_path, capture_output=True, text=True)
    assert rm.returncode == 0 and not storage.exists(), rm.stderr

    # The command said how to undo it; doing so gives the registry back, records and all.
    restore = done.stderr.split("To restore it: ")[1].strip()
    assert subprocess.run(restore, shell=True, capture_output=True).returncode == 0
    assert run_cli("load", "mydata", home=home).returncode == 0
    files = json.loads(run_cli("files", "--json", home=home).stdout)
    assert [f["key"] for f in files] == ["a.csv"]


def test_delete_without_a_name_and_no_terminal_is_refused_and_changes_nothing(tmp_path) -> None:
    home = tmp_path / "home"
    _init(tmp_path, home, "mydata")
    before = sorted(p.relative_to(home).as_posix() for p in home.rglob("*"))
    done = run_cli("delete", home=home)
    assert done.returncode == 1
    assert "name the instance to delete: lamin delete NAME (instances: mydata)" in done.stderr
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == before
    unknown = run_cli("delete", "nope", home=home)
    assert unknown.returncode == 1 and "no instance named 'nope'" in unknown.stderr and "mydata" in unknown.stderr


def test_force_deletes_the_registry_for_good(tmp_path) -> None:
    home = tmp_path / "home"
    storage = _init(tmp_path, home, "mydata")
    _save_a_file(home, tmp_path)
    done = run_cli("delete", "mydata", "--force", home=home)
    assert done.returncode == 0, done.stderr
    assert not (home / "instances" / "mydata.sqlite").exists() and not (home / "instances" / "deleted").exists()
    assert (storage / "a.csv").exists()


def _with_terminal(args: list[str], answer: str, home: Path) -> tuple[int, str]:
    """Run ``lamin *args`` with a pseudo-terminal as stdin and type ``answer``."""
    leader, follower = pty.openpty()
    env = {**os.environ, "LAMIN_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.Popen([LAMIN, *args], stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    os.close(follower)
    os.write(leader, answer.encode())
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    return proc.returncode, out.decode()


def test_in_a_terminal_delete_asks_first(tmp_path) -> None:
    home = tmp_path / "home"
    _init(tmp_path, home, "mydata")
    code, out = _with_terminal(["delete", "mydata"], "n\n", home)
    assert code == 1 and "Delete instance 'mydata'?" in out and "Aborted" in out
    assert (home / "instances" / "mydata.sqlite").exists()
    code, out = _with_terminal(["delete", "mydata"], "y\n", home)
    assert code == 0, out
    assert not (home / "instances" / "mydata.sqlite").exists()
    assert len(list((home / "instances" / "deleted").glob("mydata-*/mydata.sqlite"))) == 1


def test_in_a_terminal_delete_without_a_name_asks_which(tmp_path) -> None:
    home = tmp_path / "home"
    _init(tmp_path, home, "mydata")
    code, out = _with_terminal(["delete"], "mydata\ny\n", home)
    assert code == 0, out
    assert "Which instance? (mydata)" in out
    assert not (home / "instances" / "mydata.json").exists()


def test_a_postgresql_registry_is_not_dropped_without_force(tmp_path, pg_url) -> None:
    from _pg import empty_pg_schema

    empty_pg_schema(pg_url)
    home = tmp_path / "home"
    done = run_cli("init", "--storage", str(tmp_path / "pg"), "--db", pg_url, "--name", "pg", home=home)
    assert done.returncode == 0, done.stderr
    refused = run_cli("delete", "pg", home=home)
    assert refused.returncode == 1
    assert "PostgreSQL, which cannot be moved aside" in refused.stderr and "lamin delete pg --force" in refused.stderr
    assert (home / "instances" / "pg.json").exists()
    assert run_cli("info", home=home).returncode == 0  # still usable
    assert run_cli("delete", "pg", "--force", home=home).returncode == 0
