"""LAMIN_CONTENT on tasks inside flows on Prefect's temporary server: keys follow file content."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE, CompoundCachePolicy

from lamin_flows.tasks import LAMIN_CONTENT, LaminContent

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture
def setup(ln, tmp_path):
    """(ln, the registered file raw/a.txt's path, a cache policy keeping its records in tmp_path)."""
    root = Path(str(ln.settings.storage))
    (root / "raw").mkdir(parents=True)
    path = root / "raw" / "a.txt"
    path.write_text("one\ntwo\n")
    ln.File(path).save()
    policy = (LAMIN_CONTENT + TASK_SOURCE).configure(key_storage=str(tmp_path / "prefect-cache"))
    return ln, path, policy


def _states(result_states: list) -> list[str]:
    return [state.name for state in result_states]


def test_composes_with_prefect_policies() -> None:
    assert isinstance(LAMIN_CONTENT, LaminContent)
    combined = LAMIN_CONTENT + TASK_SOURCE
    assert isinstance(combined, CompoundCachePolicy) and LAMIN_CONTENT in combined.policies
    assert isinstance(LAMIN_CONTENT + INPUTS, CompoundCachePolicy)


def test_a_path_to_a_registered_file_is_keyed_by_its_content(setup) -> None:
    ln, path, policy = setup
    calls: list[str] = []

    @task(cache_policy=policy)
    def count_lines(location: str) -> int:
        calls.append(location)
        return len(Path(location).read_text().splitlines())

    @flow
    def pipeline(location: str) -> tuple[int, str]:
        state = count_lines(location, return_state=True)
        return state.result(), state.name

    assert pipeline(str(path)) == (2, "Completed")
    assert pipeline(str(path)) == (2, "Cached")  # same content
    path.write_text("one\ntwo\nthree\n")  # edited in place, outside lamin_flows: other content
    assert pipeline(str(path)) == (3, "Completed")
    assert pipeline(str(path)) == (3, "Cached")
    ln.File(path).save()  # registered: a new version with this content, the same key
    assert pipeline(str(path)) == (3, "Cached")
    assert len(calls) == 2


def test_file_records_are_keyed_by_content_not_id(setup, tmp_path) -> None:
    ln, path, policy = setup
    calls: list[str] = []

    @task(cache_policy=policy)
    def size_of(files: list) -> int:
        calls.append(",".join(f.id for f in files))
        return sum(f.size for f in files)

    @flow
    @ln.tracked
    def pipeline(key: str) -> tuple[int, str]:
        state = size_of([ln.File.select(key=key).one()], return_state=True)
        return state.result(), state.name

    assert pipeline("raw/a.txt") == (8, "Completed")
    assert pipeline("raw/a.txt") == (8, "Cached")
    incoming = tmp_path / "incoming.txt"
    incoming.write_text("a new version\n")
    ln.File(incoming, key="raw/a.txt").save()
    assert pipeline("raw/a.txt") == (14, "Completed")
    assert len(calls) == 2


def test_plain_arguments_are_part_of_the_key(setup) -> None:
    ln, path, policy = setup
    calls: list[int] = []

    @task(cache_policy=policy)
    def head(location: str, n: int) -> list[str]:
        calls.append(n)
        return Path(location).read_text().splitlines()[:n]

    @flow
    def pipeline(n: int) -> list[str]:
        return head(str(path), n)

    assert pipeline(1) == ["one"] and pipeline(1) == ["one"] and pipeline(2) == ["one", "two"]
    assert calls == [1, 2]


def test_tracked_flow_with_cache_skips_its_body(ln, tmp_path) -> None:
    root = Path(str(ln.settings.storage))
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "a.txt").write_text("alpha\n")
    ln.File(root / "raw" / "a.txt").save()
    calls: list[int] = []

    @flow
    @ln.tracked(cache=True)
    def report(key: str) -> ln.File:
        calls.append(1)
        text = ln.File.select(key=key).one().open().read().decode()
        out = root / "reports" / "upper.txt"
        out.parent.mkdir(exist_ok=True)
        out.write_text(text.upper())
        return ln.File(out).save()

    first = report("raw/a.txt")
    second = report("raw/a.txt")
    assert calls == [1] and second.id == first.id
    cached = ln.Run.select(status="cached").one()
    original = ln.Run.select(status="completed", transform__name="report").one()
    assert cached.reused_id == original.id and cached.reference_type == "prefect-flow-run"
    assert cached.reference != original.reference  # another flow run, which did not run the body


FLOW_SCRIPT = """
import sys
from pathlib import Path

from prefect import flow

import lamin_flows as ln


@flow
@ln.tracked(cache=True)
def nightly_report(key: str) -> ln.File:
    print("BODY RAN")
    text = ln.File.select(key=key).one().open().read().decode()
    out = Path(str(ln.settings.storage)) / "reports" / "nightly.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text[::-1])
    return ln.File(out).save()


if __name__ == "__main__":
    print("RESULT", nightly_report(sys.argv[1]).id)
"""


def test_a_flow_run_in_another_process_reuses_the_first(ln, tmp_path, lamin_home) -> None:
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    root = Path(str(ln.settings.storage))
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "a.txt").write_text("alpha\n")
    ln.File(root / "raw" / "a.txt").save()
    script = tmp_path / "nightly.py"
    script.write_text(FLOW_SCRIPT)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # the test server, as a worker has it

    def run() -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, str(script), "raw/a.txt"], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    first, second = run(), run()
    assert "BODY RAN" in first.stdout and "BODY RAN" not in second.stdout
    ids = {line.split()[1] for out in (first, second) for line in out.stdout.splitlines() if line.startswith("RESULT")}
    assert len(ids) == 1
    cached = ln.Run.select(status="cached").one()
    original = ln.Run.select(status="completed", transform__name="nightly_report").one()
    assert cached.reused_id == original.id and cached.reference_type == "prefect-flow-run"
