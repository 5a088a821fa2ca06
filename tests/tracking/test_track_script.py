"""ln.track() / ln.finish(): real scripts in subprocesses become Runs of their Transforms."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEADER = "import sys, threading\nimport lamin_flows as ln\n"


def _run(path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, cwd=cwd or path.parent, timeout=120
    )


def _script(tmp_path: Path, body: str, name: str = "ingest.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def test_a_script_is_a_transform_its_execution_a_run_with_inputs_and_outputs(ln_sqlite, tmp_path) -> None:
    ln = ln_sqlite
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b\n1,2\n")
    ln.File(raw, key="raw/raw.csv").save()
    script = _script(
        tmp_path,
        """
        run = ln.track(params={"sample": "S001", "n": 3})
        assert ln.context.run.id == run.id and ln.context.transform.name == "ingest.py"
        ln.File.select(key="raw/raw.csv").one().stage()          # an input
        open("clean.csv", "w").write("a\\n1\\n")
        ln.File("clean.csv", key="clean/clean.csv").save()      # an output

        def in_a_thread():                                        # threads started later see the run too
            open("thread.csv", "w").write("t\\n1\\n")
            ln.File("thread.csv", key="clean/thread.csv").save()

        worker = threading.Thread(target=in_a_thread)
        worker.start(); worker.join()
        finished = ln.finish()
        print(finished.id, finished.status)
        open("after.csv", "w").write("x\\n")
        after = ln.File("after.csv", key="after.csv").save()
        assert after.run_id is None, after.run_id
        """,
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    run_id, status = done.stdout.split()
    assert status == "completed"

    transform = ln.Transform.select(name="ingest.py").one()
    assert transform.type == "script"
    assert transform.reference == str(script.resolve())
    digest = hashlib.sha256(script.read_bytes()).hexdigest()
    assert transform.source_hash == digest and transform.version == digest[:12]
    run = ln.Run.select(id=run_id).one()
    assert run.transform_id == transform.id and run.status == "completed" and run.error is None
    assert run.params == {"sample": "S001", "n": 3}
    assert run.finished_at >= run.started_at
    assert run.meta["argv"] == [str(script)]
    outputs = {f.key for f in ln.File.select(run=run).all()}
    assert outputs == {"clean/clean.csv", "clean/thread.csv"}
    assert [f.key for f in run.inputs.all()] == ["raw/raw.csv"]


def test_unchanged_script_reuses_its_transform_a_changed_one_is_a_new_version(ln_sqlite, tmp_path) -> None:
    ln = ln_sqlite
    script = _script(tmp_path, "ln.track()\nln.finish()\n")
    assert _run(script).returncode == 0
    assert _run(script).returncode == 0
    assert ln.Transform.select(name="ingest.py").count() == 1
    assert ln.Run.select(transform__name="ingest.py").count() == 2
    script.write_text(script.read_text() + "# changed\n")
    assert _run(script).returncode == 0
    versions = {t.version for t in ln.Transform.select(name="ingest.py").all()}
    assert len(versions) == 2


@pytest.mark.parametrize(
    ("ending", "returncode", "status", "error"),
    [
        ("pass", 0, "completed", None),
        ("sys.exit(0)", 0, "completed", None),
        ("sys.exit(3)", 3, "failed", "SystemExit: 3"),
        ("raise ValueError('boom')", 1, "failed", "ValueError: boom"),
        ("raise KeyboardInterrupt", 130, "crashed", "KeyboardInterrupt"),
        ("sys.excepthook = lambda *a: None\nraise OSError('disk full')", 1, "failed", "OSError: disk full"),
    ],
)
def test_a_script_that_never_calls_finish_ends_its_run_at_exit(
    ln_sqlite, tmp_path, ending, returncode, status, error
) -> None:
    ln = ln_sqlite
    script = _script(tmp_path, f"print(ln.track().id)\n{ending}\n")
    done = _run(script)
    assert done.returncode in (returncode, -2 if returncode == 130 else returncode), done.stderr
    if ending.startswith("raise ValueError"):
        assert "ValueError: boom" in done.stderr  # the traceback is still printed
    run = ln.Run.select(id=done.stdout.split()[0]).one()
    assert (run.status, run.error) == (status, error)
    assert run.finished_at is not None


def test_track_twice_keeps_the_run_finish_twice_or_without_track_is_refused(ln_sqlite, tmp_path) -> None:
    ln = ln_sqlite
    script = _script(
        tmp_path,
        """
        try:
            ln.finish()
        except ln.errors.TrackingError as exc:
            print("refused:", exc)
        first = ln.track()
        again = ln.track()
        assert again.id == first.id
        ln.finish()
        try:
            ln.finish()
        except RuntimeError as exc:
            print("refused again:", exc)
        second = ln.track()
        assert second.id != first.id
        print(first.id, second.id)
        """,
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("refused: ln.finish() found no Run to finish: call ln.track() first")
    assert lines[1].startswith("refused again: ln.finish() found no Run to finish")
    assert "is already being tracked; keeping it" in done.stderr
    first, second = lines[2].split()
    assert ln.Run.select(id=first).one().status == "completed"
    assert ln.Run.select(id=second).one().status == "completed"  # ended at exit
    assert ln.Run.select().count() == 2


def test_track_inside_a_tracked_call_is_refused_and_records_nothing(ln_sqlite, tmp_path) -> None:
    ln = ln_sqlite
    script = _script(
        tmp_path,
        """
        @ln.tracked
        def step():
            ln.track()

        try:
            step()
        except ln.errors.TrackingError as exc:
            print(exc)
        """,
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    assert "ln.track() was called inside the tracked call 'step'" in done.stdout
    assert "Remove ln.track() there" in done.stdout
    assert ln.Transform.select(type="script").count() == 0
    assert [r.status for r in ln.Run.select().all()] == ["failed"]  # only step's Run, which raised


def test_tracked_calls_in_a_script_are_child_runs(ln_sqlite, tmp_path) -> None:
    ln = ln_sqlite
    script = _script(
        tmp_path,
        """
        @ln.tracked
        def step(x):
            open("step.csv", "w").write("s\\n")
            return ln.File("step.csv", key="step.csv").save()

        run = ln.track()
        step(1)
        ln.finish()
        print(run.id)
        """,
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    child = ln.Run.select(transform__name="step").one()
    assert child.parent_id == done.stdout.strip()
    assert ln.File.select(key="step.csv").one().run_id == child.id


def test_code_without_a_file_needs_a_name(ln_sqlite, tmp_path) -> None:
    ln = ln_sqlite
    refused = subprocess.run(
        [sys.executable, "-c", "import lamin_flows as ln; ln.track()"], capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "ln.track() cannot find the file of code run by `python -c`" in refused.stderr
    assert "ln.track(name='qc-analysis'" in refused.stderr
    assert ln.Transform.select().count() == 0 and ln.Run.select().count() == 0

    code = "import lamin_flows as ln; ln.track(name='qc'); ln.finish(); ln.track(name='qc'); ln.finish()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    transform = ln.Transform.select(name="qc").one()
    assert (transform.type, transform.version, transform.reference, transform.source_hash) == (
        "script",
        "1",
        "<script>:qc",
        None,
    )
    assert ln.Run.select(transform=transform).count() == 2


def test_a_notebook_named_by_jupyter_is_versioned_by_its_code_cells(ln_sqlite, tmp_path) -> None:
    ln = ln_sqlite
    notebook = tmp_path / "analysis.ipynb"

    def write(outputs: list[str], code: str) -> None:
        cells = [
            {"cell_type": "markdown", "source": ["# Analysis"]},
            {"cell_type": "code", "source": ["import lamin_flows as ln\n", code], "outputs": outputs},
        ]
        notebook.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5}))

    # What a Jupyter kernel does: run the cell's code with __session__ naming the notebook.
    kernel = (
        "import sys\n"
        "namespace = {'__name__': '__main__', '__session__': sys.argv[1]}\n"
        "exec('import lamin_flows as ln\\nln.track()\\nln.finish()', namespace)\n"
    )
    write([], "ln.track()")
    assert subprocess.run([sys.executable, "-c", kernel, str(notebook)], capture_output=True).returncode == 0
    write(["<an output of the last run>"], "ln.track()")  # outputs change on every run: same version
    assert subprocess.run([sys.executable, "-c", kernel, str(notebook)], capture_output=True).returncode == 0
    transform = ln.Transform.select(name="analysis.ipynb").one()
    assert transform.type == "notebook" and transform.reference == str(notebook.resolve())
    assert ln.Run.select(transform=transform).count() == 2
    write([], "ln.track()\nprint('changed')")
    assert subprocess.run([sys.executable, "-c", kernel, str(notebook)], capture_output=True).returncode == 0
    assert ln.Transform.select(name="analysis.ipynb").count() == 2


def test_bad_arguments_are_refused_before_anything_is_written(ln_sqlite, tmp_path) -> None:
    ln = ln_sqlite
    script = _script(
        tmp_path,
        """
        for kwargs in ({"params": {"df": object()}}, {"name": ""}, {"params": [1]}):
            try:
                ln.track(**kwargs)
            except ValueError as exc:
                print(exc)
        """,
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "a value (object) has no JSON form" in lines[0]
    assert "ln.track(name=''): pass a non-empty string" in lines[1]
    assert "ln.track(params=[1]): pass a dict" in lines[2]
    assert ln.Transform.select().count() == 0 and ln.Run.select().count() == 0


def test_prefect_flows_in_a_tracked_script_link_to_its_run(ln_sqlite, prefect_server, tmp_path) -> None:
    """In process: Prefect runs tasks in worker threads, which no context variable of ours reaches."""
    from prefect import flow, task

    ln = ln_sqlite

    @task
    def write(i: int) -> str:
        path = tmp_path / f"t{i}.csv"
        path.write_text(f"t\n{i}\n")
        return ln.File(path, key=f"t/{i}.csv").save().id

    @flow
    def untracked() -> list[str]:
        return [future.result() for future in write.map(range(3))]

    @ln.tracked
    @flow
    def tracked_flow() -> str:
        return write(9)

    script_run = ln.track(name="prefect-script")
    try:
        untracked()
        tracked_flow()
    finally:
        ln.finish()
    assert {f.key for f in ln.File.select(run=script_run).all()} == {"t/0.csv", "t/1.csv", "t/2.csv"}
    flow_run = ln.Run.select(transform__name="tracked_flow").one()
    assert flow_run.parent_id == script_run.id and flow_run.status == "completed"
    assert ln.File.select(key="t/9.csv").one().run_id == flow_run.id
    assert ln.Run.select(id=script_run.id).one().status == "completed"
    assert ln.context.run is None


def test_a_forked_child_never_ends_its_parents_run(ln_sqlite, tmp_path) -> None:
    ln = ln_sqlite
    script = _script(
        tmp_path,
        """
        import os
        run = ln.track()
        pid = os.fork()
        if pid == 0:
            open("child.csv", "w").write("c\\n")
            ln.File("child.csv", key="child.csv").save()   # the child's Files still belong to the Run
            sys.exit(0)                                    # runs the child's atexit hooks
        os.waitpid(pid, 0)
        print(run.id, ln.Run.select(id=run.id).one().status)
        """,
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    run_id, status_after_child = done.stdout.split()
    assert status_after_child == "started"
    assert ln.Run.select(id=run_id).one().status == "completed"  # ended by the parent's exit
    assert ln.File.select(key="child.csv").one().run_id == run_id
