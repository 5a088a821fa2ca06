"""@ln.tracked(cache=True): every hit and miss rule, on SQLite and PostgreSQL, and across processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa


@pytest.fixture
def data(ln) -> Path:
    """Two registered input files, raw/a.txt and raw/b.txt, in the instance's storage."""
    root = Path(str(ln.settings.storage))
    (root / "raw").mkdir(parents=True)
    for name, text in (("a", "alpha\n"), ("b", "beta\n")):
        (root / "raw" / f"{name}.txt").write_text(text)
        ln.File(root / "raw" / f"{name}.txt").save()
    return root


def _pipeline(ln, calls: list[int]):
    """A tracked function that loads its inputs by key and saves one output."""

    @ln.tracked(cache=True)
    def concat(keys: list[str], sep: str = "+") -> dict:
        calls.append(1)
        texts = [ln.File.select(key=key).one().open().read().decode() for key in keys]
        out = ln.File.__module__  # noqa: F841 (keeps the body's source apart from other tests')
        joined = sep.join(t.strip() for t in texts)
        target = Path(str(ln.settings.storage)) / "out" / "joined.txt"
        target.parent.mkdir(exist_ok=True)
        target.write_text(joined)
        return {"file": ln.File(target).save(), "n": len(texts), "pair": (sep, 1.5), "path": target}

    return concat


def _edit(ln, data: Path, key: str, text: str):
    """A new version of ``key`` with ``text``, copied in (the older version's bytes are kept)."""
    path = data.parent / "incoming" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return ln.File(path, key=key).save()


def test_second_call_reuses_the_run_and_returns_the_same_records(ln, data, capsys) -> None:
    calls: list[int] = []
    concat = _pipeline(ln, calls)
    first = concat(["raw/a.txt", "raw/b.txt"])
    original = ln.Run.select(status="completed").one()
    assert "cache miss, no completed run to reuse yet" in capsys.readouterr().err
    second = concat(["raw/a.txt", "raw/b.txt"])
    assert calls == [1]  # the body ran once
    err = capsys.readouterr().err
    assert f"cache hit, reusing run {original.id}" in err and err.count("\n") == 1
    assert second["file"].id == first["file"].id and second["file"].load() is not None
    assert second["n"] == 2 and second["pair"] == ("+", 1.5) and second["path"] == first["path"]
    assert isinstance(second["path"], Path)
    cached = ln.Run.select(status="cached").one()
    assert cached.reused_id == original.id and cached.reused.id == original.id
    assert [r.id for r in original.reused_by.all()] == [cached.id]
    assert cached.params == {"keys": ["raw/a.txt", "raw/b.txt"], "sep": "+"}
    assert sorted(f.key for f in cached.inputs.all()) == ["raw/a.txt", "raw/b.txt"]
    assert cached.outputs.count() == 0  # the Files stay the original Run's outputs
    df = ln.Run.select().df()
    assert sorted(df["status"]) == ["cached", "completed"] and "reused_id" in df.columns


def test_default_keeps_every_call(ln, data) -> None:
    calls: list[int] = []

    @ln.tracked
    def plain(key: str) -> str:
        calls.append(1)
        return ln.File.select(key=key).one().open().read().decode()

    plain("raw/a.txt")
    plain("raw/a.txt")
    assert calls == [1, 1]
    assert [r.cache_key for r in ln.Run.select().all()] == [None, None]


def test_changed_input_content_reruns_and_says_which(ln, data, capsys) -> None:
    calls: list[int] = []
    concat = _pipeline(ln, calls)
    concat(["raw/a.txt", "raw/b.txt"])
    new = _edit(ln, data, "raw/b.txt", "BETA\n")
    assert new.version == "2"
    capsys.readouterr()
    result = concat(["raw/a.txt", "raw/b.txt"])
    assert calls == [1, 1]
    err = capsys.readouterr().err
    assert "cache miss, input File 'raw/b.txt' (version 2) has other content" in err
    assert result["file"].load() is not None and result["file"].path().read_text() == "alpha+BETA"
    concat(["raw/a.txt", "raw/b.txt"])  # the new content, unchanged: a hit again
    assert calls == [1, 1]


def test_input_edited_in_place_outside_lamin_reruns(ln, data, capsys) -> None:
    calls: list[int] = []
    concat = _pipeline(ln, calls)
    concat(["raw/a.txt"])
    concat(["raw/a.txt"])  # a hit: the stat cache now vouches for raw/a.txt
    path = data / "raw" / "a.txt"
    path.write_text("ALPHA\n")  # same size, other bytes, a new mtime; not registered
    capsys.readouterr()
    concat(["raw/a.txt"])
    assert calls == [1, 1]
    assert "input File 'raw/a.txt' (version 1)" in capsys.readouterr().err


def test_unchanged_size_and_mtime_are_not_rehashed(ln, data) -> None:
    calls: list[int] = []
    concat = _pipeline(ln, calls)
    concat(["raw/a.txt"])
    concat(["raw/a.txt"])  # the first check hashes raw/a.txt and records its stat
    from lamin_flows.registry import instance

    with instance.current().engine.connect() as conn:
        stats = conn.execute(sa.text("SELECT file_id, size, mtime_ns FROM file_stat")).all()
    a = ln.File.select(key="raw/a.txt").one()
    assert a.id in {row.file_id for row in stats}
    path = data / "raw" / "a.txt"
    before = path.stat()
    path.write_text("ALPHX\n")  # other bytes, same size, and the old mtime put back
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    concat(["raw/a.txt"])
    assert calls == [1]  # the stat cache said unchanged: no rehash (the documented trade-off)


def test_changed_parameter_reruns_and_names_it(ln, data, capsys) -> None:
    calls: list[int] = []
    concat = _pipeline(ln, calls)
    concat(["raw/a.txt"], sep="+")
    capsys.readouterr()
    concat(["raw/a.txt"], sep="-")
    assert calls == [1, 1]
    assert "parameter changed since run" in (err := capsys.readouterr().err) and "sep: '+' -> '-'" in err
    concat(["raw/a.txt"], sep="+")  # back to the first parameters: that Run is reused
    assert calls == [1, 1]


def test_changed_source_reruns(ln, data, capsys) -> None:
    def make(body: int):
        if body == 1:

            @ln.tracked(cache=True, name="step")
            def step(key: str) -> int:
                return len(ln.File.select(key=key).one().open().read())

        else:

            @ln.tracked(cache=True, name="step")
            def step(key: str) -> int:
                return len(ln.File.select(key=key).one().open().read()) + 1

        return step

    assert make(1)("raw/a.txt") == 6
    capsys.readouterr()
    assert make(2)("raw/a.txt") == 7
    assert "cache miss, the source changed" in capsys.readouterr().err
    assert make(2)("raw/a.txt") == 7
    assert ln.Run.select(status="cached").count() == 1


def test_changed_source_under_a_fixed_version_reruns(ln, data, capsys) -> None:
    def make(body: int):
        if body == 1:

            @ln.tracked(cache=True, version="1")
            def fixed() -> int:
                return 1

        else:

            @ln.tracked(cache=True, version="1")
            def fixed() -> int:
                return 2

        return fixed

    assert make(1)() == 1
    capsys.readouterr()
    assert make(2)() == 2  # the same Transform (version kept), other source: no reuse
    assert "cache miss, the source changed since run" in capsys.readouterr().err
    assert ln.Transform.select(name="fixed").count() == 1 and ln.Run.select(status="cached").count() == 0


def test_deleted_input_file_reruns(ln, data, capsys) -> None:
    calls: list[int] = []

    @ln.tracked(cache=True)
    def read_all(prefix: str) -> int:
        calls.append(1)
        return sum(len(f.open().read()) for f in ln.File.select(key__startswith=prefix).all())

    assert read_all("raw/") == 11
    ln.File.select(key="raw/b.txt").one().delete(storage=True)
    capsys.readouterr()
    assert read_all("raw/") == 6
    assert calls == [1, 1]
    assert "input File 'raw/b.txt' of run" in (err := capsys.readouterr().err) and "was deleted" in err


def test_deleted_output_file_reruns(ln, data, capsys) -> None:
    calls: list[int] = []
    concat = _pipeline(ln, calls)
    first = concat(["raw/a.txt"])
    first["file"].delete(storage=True)
    capsys.readouterr()
    again = concat(["raw/a.txt"])
    assert calls == [1, 1]
    assert "output File 'out/joined.txt' of run" in (err := capsys.readouterr().err) and "was deleted" in err
    assert again["file"].path().read_text() == "alpha"


def test_output_whose_data_fails_its_hash_reruns(ln, data, capsys) -> None:
    calls: list[int] = []
    concat = _pipeline(ln, calls)
    first = concat(["raw/a.txt"])
    concat(["raw/a.txt"])  # a hit (stat cache warm)
    path = Path(str(first["file"].path()))
    path.write_text("ALPHA")  # corrupted behind the record: same size, other bytes
    capsys.readouterr()
    again = concat(["raw/a.txt"])
    assert calls == [1, 1]
    err = capsys.readouterr().err
    assert "output File 'out/joined.txt' (version 1)" in err and "fails its check" in err
    assert again["file"].path().read_text() == "alpha"


def test_output_data_missing_reruns(ln, data, capsys) -> None:
    calls: list[int] = []
    concat = _pipeline(ln, calls)
    first = concat(["raw/a.txt"])
    Path(str(first["file"].path())).unlink()
    capsys.readouterr()
    concat(["raw/a.txt"])
    assert calls == [1, 1] and "its data is missing" in capsys.readouterr().err


def test_file_arguments_are_compared_by_content(ln, data, capsys) -> None:
    calls: list[int] = []

    @ln.tracked(cache=True)
    def size_of(file: ln.File) -> int:
        calls.append(1)
        return len(file.open().read())

    a = ln.File.select(key="raw/a.txt").one()
    assert size_of(a) == 6
    assert size_of(ln.File.select(key="raw/a.txt").one()) == 6
    assert calls == [1]
    newer = _edit(ln, data, "raw/a.txt", "alpha, longer\n")
    capsys.readouterr()
    assert size_of(newer) == 14
    assert "input File 'raw/a.txt' (argument 'file') has other content" in capsys.readouterr().err
    assert size_of(a) == 6  # the old version, passed explicitly: its own earlier Run
    assert calls == [1, 1]


def test_a_return_value_that_cannot_be_stored_never_hits(ln, data, capsys) -> None:
    calls: list[int] = []

    @ln.tracked(cache=True)
    def opaque() -> object:
        calls.append(1)
        return object()

    opaque()
    assert "its return value (object) cannot be stored" in capsys.readouterr().err
    opaque()
    assert calls == [1, 1] and "could not be stored" in capsys.readouterr().err


def test_a_parameter_that_cannot_be_compared_always_runs(ln, data, capsys) -> None:
    calls: list[int] = []

    @ln.tracked(cache=True)
    def takes(thing: object) -> int:
        calls.append(1)
        return 1

    takes(object())
    takes(object())
    assert calls == [1, 1] and "parameter 'thing' (object) cannot be compared" in capsys.readouterr().err


def test_failed_runs_are_never_reused(ln, data) -> None:
    calls: list[int] = []

    @ln.tracked(cache=True)
    def flaky(fail: bool = False) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first attempt")
        return 1

    with pytest.raises(RuntimeError):
        flaky()
    assert flaky() == 1 and flaky() == 1
    assert calls == [1, 1]
    assert sorted(r.status for r in ln.Run.select().all()) == ["cached", "completed", "failed"]


def test_async_functions_are_cached(ln, data) -> None:
    calls: list[int] = []

    @ln.tracked(cache=True)
    async def fetch(key: str) -> ln.File:
        calls.append(1)
        file = ln.File.select(key=key).one()
        file.open().read()
        return file

    first = asyncio.run(fetch("raw/a.txt"))
    second = asyncio.run(fetch("raw/a.txt"))
    assert calls == [1] and second.id == first.id


def test_inputs_of_child_runs_count(ln, data, capsys) -> None:
    calls: list[int] = []

    @ln.tracked
    def child(key: str) -> str:
        return ln.File.select(key=key).one().open().read().decode()

    @ln.tracked(cache=True)
    def parent() -> str:
        calls.append(1)
        return child("raw/a.txt") + child("raw/b.txt")

    parent()
    parent()
    assert calls == [1]
    _edit(ln, data, "raw/b.txt", "bravo\n")
    assert parent() == "alpha\nbravo\n" and calls == [1, 1]


def test_warm_check_costs_under_a_millisecond_per_file(ln, tmp_path) -> None:
    root = Path(str(ln.settings.storage))
    (root / "many").mkdir()
    for i in range(1000):
        (root / "many" / f"{i}.txt").write_text(f"{i}\n")
    ln.save(ln.File.from_dir(root / "many"))
    calls: list[int] = []

    @ln.tracked(cache=True)
    def total(prefix: str) -> int:
        calls.append(1)
        return sum(int(f.open().read()) for f in ln.File.select(key__startswith=prefix).all())

    assert total("many/") == sum(range(1000))
    total("many/")  # the first check hashes all files once
    start = time.perf_counter()
    assert total("many/") == sum(range(1000))
    per_file_ms = (time.perf_counter() - start) * 1000 / 1000
    print(f"warm cache check: {per_file_ms:.3f} ms per input File")
    assert calls == [1] and per_file_ms < 1


PIPELINE = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import lamin_flows as ln


    @ln.tracked(cache=True)
    def summarize(key: str) -> ln.File:
        print("BODY RAN")
        text = ln.File.select(key=key).one().open().read().decode()
        out = Path(str(ln.settings.storage)) / "summary.txt"
        out.write_text(text.upper())
        return ln.File(out).save()


    if __name__ == "__main__":
        print("RESULT", summarize(sys.argv[1]).id)
    """
)


def test_a_second_process_reuses_what_the_first_completed(ln, data, tmp_path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(PIPELINE)

    def run() -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, str(script), "raw/a.txt"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done

    first = run()
    # three processes at once, each the first to check (cold stat cache: all write it)
    command = [sys.executable, str(script), "raw/a.txt"]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        for _ in range(3)
    ]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in outs]
    assert all("BODY RAN" not in out and "cache hit, reusing run" in err for out, err in outs)
    assert ln.Run.select(status="cached").count() == 3
    second = run()
    assert "BODY RAN" in first.stdout and "BODY RAN" not in second.stdout
    assert "cache hit, reusing run" in second.stderr
    ids = [line.split()[1] for out in (first, second) for line in out.stdout.splitlines() if line.startswith("RESULT")]
    assert ids[0] == ids[1]
    original = ln.Run.select(status="completed", transform__name="summarize").one()
    assert {r.reused_id for r in ln.Run.select(status="cached").all()} == {original.id}
    assert ln.File.select(id=ids[0]).one().run_id == original.id
    _edit(ln, data, "raw/a.txt", "changed\n")
    third = run()
    assert "BODY RAN" in third.stdout and "input File 'raw/a.txt' (version 2)" in third.stderr


def test_cli_and_lineage_show_what_was_reused(ln, data, lamin_home) -> None:
    import json

    from _cli import run_cli  # tests/_cli.py

    calls: list[int] = []
    concat = _pipeline(ln, calls)
    made = concat(["raw/a.txt"])["file"]
    concat(["raw/a.txt"])
    original = ln.Run.select(status="completed").one()
    cached = ln.Run.select(status="cached").one()
    listed = json.loads(run_cli("runs", "--cached", "--json", home=lamin_home).stdout)
    assert listed == [
        {
            "transform": "concat",
            "status": "cached",
            "id": cached.id,
            "reused_id": original.id,
            "started_at": listed[0]["started_at"],
        }
    ]
    assert "reused_id" in ln.Run.select().df().columns
    graph = made.view_lineage()
    assert [(e.source, e.target) for e in graph.reuses] == [(f"run:{cached.id}", f"run:{original.id}")]
    assert f"reuses run {original.id[:8]}" in graph.nodes[f"run:{cached.id}"].detail
    assert "-. reuses .->" in graph.to_mermaid() and "reused by concat (cached" in str(graph)
    assert json.loads(graph.to_json())["reuses"] == [{"cached": cached.id, "reused": original.id}]
    assert "stroke-dasharray" in graph.to_svg()


def test_on_s3_outputs_are_checked_by_etag(s3_endpoint, s3_bucket, tmp_path, capsys) -> None:
    import _s3  # tests/_s3.py

    import lamin_flows as ln

    ln.setup.init(storage=f"s3://{s3_bucket}/root", name="s3cache")
    client = _s3.s3_client(s3_endpoint)
    source = tmp_path / "in.txt"
    source.write_text("alpha\n")
    ln.File(source, key="raw/in.txt").save()
    calls: list[int] = []

    @ln.tracked(cache=True)
    def shout(key: str) -> ln.File:
        calls.append(1)
        text = ln.File.select(key=key).one().open().read().decode()
        out = tmp_path / "out.txt"
        out.write_text(text.upper())
        return ln.File(out, key="out/shout.txt").save()

    first = shout("raw/in.txt")
    assert shout("raw/in.txt").id == first.id and calls == [1]
    client.put_object(Bucket=s3_bucket, Key="root/out/shout.txt", Body=b"ALPHX\n")  # corrupted behind the record
    capsys.readouterr()
    shout("raw/in.txt")
    assert calls == [1, 1] and "md5 hash" in capsys.readouterr().err  # a miss, naming the check that failed
    # (The rerun's ln.File(out, key=...) finds a record with this content and keeps it without
    # uploading again: repairing data behind an existing record is `lamin verify`'s job, not the cache's.)
    client.delete_object(Bucket=s3_bucket, Key="root/raw/in.txt")
    capsys.readouterr()
    with pytest.raises(FileNotFoundError):
        shout("raw/in.txt")  # the input's data is gone: a miss, and the body fails reading it
    assert "its data is missing" in capsys.readouterr().err


def test_a_method_is_not_cached_on_an_instance_it_cannot_compare(ln, data, capsys) -> None:
    class Counter:
        def __init__(self, start: int) -> None:
            self.start = start

        @ln.tracked(cache=True)
        def add(self, n: int) -> int:
            return self.start + n

    assert Counter(1).add(1) == 2 and Counter(5).add(1) == 6  # never the other instance's result
    assert "parameter 'self' (Counter) cannot be compared" in capsys.readouterr().err


def test_stat_cache_entries_are_upserted_and_stale_ones_refreshed(ln, data) -> None:
    from lamin_flows.registry import stat_cache

    rows = stat_cache.rows_by_id([f.id for f in ln.File.select(key__startswith="raw/").all()])
    assert all(row.stat is None for row in rows.values())
    assert stat_cache.problems(rows.values()) == {}
    stat_cache.remember([(row.id, 1, 2) for row in rows.values()])  # an entry written again: an upsert
    again = stat_cache.rows_by_id(list(rows))
    assert {row.stat for row in again.values()} == {(1, 2)}
    assert stat_cache.problems(again.values()) == {}  # a stale entry: rehashed, matches, refreshed
    fresh = stat_cache.rows_by_id(list(rows))
    assert all(row.stat is not None and row.stat != (1, 2) for row in fresh.values())


def test_a_warning_about_what_cannot_be_cached_comes_once_per_function(ln, data, capsys) -> None:
    @ln.tracked(cache=True)
    def takes(thing: object) -> int:
        return 1

    for _ in range(3):
        takes(object())
    assert capsys.readouterr().err.count("cannot be compared") == 1
