"""One owner per storage root and per registry database; sharing only on purpose.

Two registries on one folder or bucket used to destroy each other's data (B's save replaced
A's bytes, B's ``verify --fix`` rolled back A's saves). A root now carries its owner's id, a
second instance is refused with an error naming the owner, and ``share=True`` lets both work
without either one touching what the other wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

import lamin_flows as ln
from lamin_flows.errors import InstanceConflictError, KeyConflictError, StorageOwnedError
from lamin_flows.storage.owner import OWNER_KEY
from lamin_flows.verify import verify

CHILD = Path(__file__).parents[1] / "reliability" / "_save_child.py"


def owner_ids(root: Path) -> list[str]:
    return [i["name"] for i in json.loads((root / OWNER_KEY).read_text())["instances"]]


def test_init_writes_the_owner_marker_and_a_second_instance_is_refused(tmp_path):
    store = tmp_path / "store"
    ln.setup.init(storage=store, name="alice")
    assert owner_ids(store) == ["alice"]
    ln.setup.init(storage=store, name="alice")  # the same instance again: fine
    with pytest.raises(StorageOwnedError, match="'alice'") as caught:
        ln.setup.init(storage=store, name="bob")
    assert "share=True" in str(caught.value)
    assert owner_ids(store) == ["alice"]
    assert ln.setup.settings.instance.name == "alice"  # still the current instance


def test_a_root_inside_or_around_an_owned_root_is_refused(tmp_path):
    store = tmp_path / "lab" / "store"
    ln.setup.init(storage=store, name="alice")
    with pytest.raises(StorageOwnedError, match="inside .*'alice'"):
        ln.setup.init(storage=store / "sub", name="bob")
    with pytest.raises(StorageOwnedError, match="contains .*'alice'"):
        ln.setup.init(storage=tmp_path / "lab", name="carol")
    with pytest.raises(StorageOwnedError, match="inside .*'alice'"):  # sharing does not lift nesting
        ln.setup.init(storage=store / "sub", name="bob", share=True)


def test_one_registry_refuses_a_second_storage_nested_in_its_first(ln_sqlite, tmp_path):
    with pytest.raises(StorageOwnedError, match="inside storage"):
        ln.settings.storage = tmp_path / "data" / "inner"
    ln.settings.storage = tmp_path / "elsewhere"  # a sibling is fine, and is claimed
    assert owner_ids(tmp_path / "elsewhere") == ["test"]


def test_the_cli_refuses_and_shares_on_request(tmp_path):
    from typer.testing import CliRunner

    from lamin_flows.cli import app

    store = tmp_path / "store"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--storage", str(store), "--name", "alice"]).exit_code == 0
    refused = runner.invoke(app, ["init", "--storage", str(store), "--name", "bob"])
    assert refused.exit_code != 0 and "alice" in refused.output
    shared = runner.invoke(app, ["init", "--storage", str(store), "--name", "bob", "--share"])
    assert shared.exit_code == 0, shared.output
    assert owner_ids(store) == ["alice", "bob"]


def test_deleting_an_instance_releases_its_storage(tmp_path):
    store = tmp_path / "store"
    ln.setup.init(storage=store, name="alice")
    ln.setup.delete("alice", force=True)
    assert not (store / OWNER_KEY).exists()
    ln.setup.init(storage=store, name="bob")  # the storage is free again
    assert owner_ids(store) == ["bob"]


def test_shared_storage_never_clobbers_the_other_instances_keys(tmp_path):
    store = tmp_path / "store"
    ln.setup.init(storage=store, name="alice")
    mine = tmp_path / "summary.csv"
    mine.write_text("alice's numbers\n")
    alices = ln.File(mine, key="results/summary.csv").save()
    ln.setup.init(storage=store, name="bob", share=True)
    other = tmp_path / "other.csv"
    other.write_text("bob's numbers\n")
    with pytest.raises(KeyConflictError, match="no record points to"):
        ln.File(other, key="results/summary.csv").save()
    with pytest.raises(KeyConflictError):  # the same bytes: still alice's file, never adopted in a shared root
        ln.File(mine, key="results/summary.csv").save()
    assert (store / "results" / "summary.csv").read_text() == "alice's numbers\n"
    assert ln.File.select().count() == 0
    ln.setup.load("alice")
    assert ln.File.select(key="results/summary.csv").one().id == alices.id
    assert verify().ok


def test_verify_of_one_instance_leaves_the_other_instances_crashed_save_alone(tmp_path):
    store = tmp_path / "store"
    ln.setup.init(storage=store, name="alice")
    env = {**os.environ, "LAMIN_INSTANCE": "alice", "LAMIN_VERBOSITY": "1", "LAMIN_TEST_KILL_AT": "before_commit"}
    small = tmp_path / "small"
    for i in range(5):
        (small / "d").mkdir(parents=True, exist_ok=True)
        (small / "d" / f"f{i}.txt").write_text(f"file {i}\n")
    child = subprocess.run([sys.executable, str(CHILD), str(small)], env=env, capture_output=True, cwd=CHILD.parent)
    assert child.returncode == -9, child.stderr.decode()
    moved = sorted(p.relative_to(store).as_posix() for p in (store / "small").rglob("*.txt"))
    assert len(moved) == 5  # data under final keys, no record: alice's crashed save
    ln.setup.init(storage=store, name="bob", share=True)
    report = verify(fix=True, min_age=0)
    assert not report.of("interrupted") and len(report.in_progress) >= 1
    assert not report.of("unregistered"), report.of("unregistered")  # alice's journal explains her keys
    assert len(list((store / "small").rglob("*.txt"))) == 5  # untouched by bob
    ln.setup.load("alice")
    fixed = verify(fix=True, min_age=0)
    assert any(f.kind == "interrupted" for f in fixed.fixed)
    assert not list((store / "small").rglob("*.txt"))  # alice's own verify rolled it back


@pytest.mark.postgres
def test_a_second_instance_on_one_postgres_database_is_refused(pg_db, tmp_path):
    ln.setup.init(storage=tmp_path / "a", db=pg_db, name="alice")
    src = tmp_path / "x.txt"
    src.write_text("x\n")
    ln.File(src, key="x.txt").save()
    with pytest.raises(InstanceConflictError, match="'alice'"):
        ln.setup.init(storage=tmp_path / "b", db=pg_db, name="bob")
    assert not (tmp_path / "b" / OWNER_KEY).exists()
    ln.setup.load("alice")
    assert ln.File.select().count() == 1
    ln.setup.init(storage=tmp_path / "b", db=pg_db, name="bob", share=True)
    ln.setup.delete("bob", force=True)  # shared: only bob's row goes, the tables stay
    ln.setup.load("alice")
    assert ln.File.select(key="x.txt").one().size == 2
    engine = sa.create_engine(pg_db)
    with engine.connect() as conn:
        assert [r.name for r in conn.execute(sa.text("SELECT name FROM lamin_instance"))] == ["alice"]
    engine.dispose()


def test_s3_bucket_has_one_owner(s3_bucket, tmp_path):
    root = f"s3://{s3_bucket}/project"
    ln.setup.init(storage=root, name="alice")
    with pytest.raises(StorageOwnedError, match="'alice'"):
        ln.setup.init(storage=root, name="bob")
    with pytest.raises(StorageOwnedError, match="inside"):
        ln.setup.init(storage=f"{root}/deeper", name="carol")
    ln.setup.init(storage=root, name="bob", share=True)
    src = tmp_path / "a.txt"
    src.write_text("bob\n")
    ln.File(src, key="a.txt").save()
    ln.setup.load("alice")
    other = tmp_path / "b.txt"
    other.write_text("alice\n")
    with pytest.raises(KeyConflictError):
        ln.File(other, key="a.txt").save()
    ln.setup.load("bob")
    assert ln.File.select(key="a.txt").one().load() == "bob\n"


def test_an_s3_root_around_an_owned_prefix_is_refused(s3_bucket, tmp_path):
    ln.setup.init(storage=f"s3://{s3_bucket}/lab/project", name="alice")  # two prefixes down
    with pytest.raises(StorageOwnedError, match=f"contains s3://{s3_bucket}/lab/project.*'alice'"):
        ln.setup.init(storage=f"s3://{s3_bucket}", name="bob")
    with pytest.raises(StorageOwnedError, match="contains .*'alice'"):
        ln.setup.init(storage=f"s3://{s3_bucket}/lab", name="carol", share=True)  # sharing does not lift nesting
    ln.setup.init(storage=f"s3://{s3_bucket}/other", name="dave")  # a sibling: fine
    assert ln.setup.settings.instance.name == "dave"


def test_the_cloud_search_below_a_root_is_bounded(s3_bucket, moto_server, capsys):
    import _s3

    from lamin_flows.storage import get_backend
    from lamin_flows.storage.owner import _owned_below_cloud

    client = _s3.s3_client(moto_server)
    marker = json.dumps({"format": "lamin_flows.owner/1", "instances": [{"id": "other", "name": "eve"}]})
    client.put_object(Bucket=s3_bucket, Key="a/b/c/.lamindb/_owner.json", Body=marker)  # three down: not looked for
    for i in range(5):
        client.put_object(Bucket=s3_bucket, Key=f"many{i}/x.txt", Body=b"x")
    backend = get_backend(f"s3://{s3_bucket}")
    assert _owned_below_cloud(backend, "me") is None
    client.put_object(Bucket=s3_bucket, Key="a/b/.lamindb/_owner.json", Body=marker)
    assert _owned_below_cloud(backend, "me") == (f"s3://{s3_bucket}/a/b", [{"id": "other", "name": "eve"}])
    assert _owned_below_cloud(backend, "other") is None  # its own marker is no conflict
    capsys.readouterr()
    assert _owned_below_cloud(backend, "me", max_folders=2) is None  # past the bound: not walked further
    assert "more than 2 prefixes" in capsys.readouterr().err  # and said so: the check is not complete


def test_a_bucket_registered_in_place_is_read_only(s3_bucket, s3_endpoint, moto_server, tmp_path):
    import _s3

    from lamin_flows.errors import StoragePermissionError

    ln.setup.init(storage=f"s3://{s3_bucket}/project", name="alice")
    theirs = _s3.create_bucket(s3_endpoint)
    client = _s3.s3_client(moto_server)
    client.put_object(Bucket=theirs, Key="shared/x.csv", Body=b"a,b\n1,2\n")
    file = ln.File(f"s3://{theirs}/shared/x.csv").save()
    storage = ln.Storage.select(root=f"s3://{theirs}").one()
    assert storage.owned is False and ln.Storage.select(root=f"s3://{s3_bucket}/project").one().owned is True
    assert [o["Key"] for o in client.list_objects_v2(Bucket=theirs)["Contents"]] == ["shared/x.csv"]  # no marker
    with pytest.raises(StoragePermissionError, match=f"s3://{theirs} was registered in place") as caught:
        file.delete(storage=True)
    assert "delete(storage=False)" in str(caught.value)
    newer = tmp_path / "x.csv"
    newer.write_text("a,b\n3,4\n")
    with pytest.raises(StoragePermissionError, match="ln.File\\(data, key=...\\)"):
        file.replace(newer)
    assert [o["Key"] for o in client.list_objects_v2(Bucket=theirs)["Contents"]] == ["shared/x.csv"]  # nothing written
    assert client.get_object(Bucket=theirs, Key="shared/x.csv")["Body"].read() == b"a,b\n1,2\n"
    client.put_object(Bucket=theirs, Key="shared/x.csv", Body=b"a,b\n5,6\n")  # they changed it
    second = ln.File(f"s3://{theirs}/shared/x.csv").save()
    assert second.version == "2"
    second.delete(storage=False)  # version 1 is the latest record again; nothing is written there
    assert ln.File.select(key="shared/x.csv").one().id == file.id
    assert [o["Key"] for o in client.list_objects_v2(Bucket=theirs)["Contents"]] == ["shared/x.csv"]
    assert client.get_object(Bucket=theirs, Key="shared/x.csv")["Body"].read() == b"a,b\n5,6\n"
    ln.File.select(id=file.id).one().delete(storage=False)  # the record only: fine
    assert ln.File.select().count() == 0
    ln.settings.storage = f"s3://{theirs}"  # attached on purpose: claimed, and ours from now on
    assert ln.Storage.select(root=f"s3://{theirs}").one().owned is True
    assert client.head_object(Bucket=theirs, Key=".lamindb/_owner.json")


def test_the_local_search_below_a_root_is_bounded_and_says_so(tmp_path, capsys):
    from lamin_flows.storage.owner import _owned_below

    marker = json.dumps({"format": "lamin_flows.owner/1", "instances": [{"id": "other", "name": "eve"}]})
    owned = tmp_path / "root" / "z" / "lab"
    (owned / ".lamindb").mkdir(parents=True)
    (owned / ".lamindb" / "_owner.json").write_text(marker)
    for i in range(5):
        (tmp_path / "root" / f"many{i}").mkdir()
    root = str(tmp_path / "root")
    assert _owned_below(root, "me") == (str(owned), [{"id": "other", "name": "eve"}])
    capsys.readouterr()
    assert _owned_below(root, "me", max_folders=2) is None  # stopped before z/lab
    assert "more than 2 folders" in capsys.readouterr().err  # and said so: the check is not complete
    assert _owned_below(root, "me", max_depth=1) is None  # z/lab is two levels down
