"""The process the version kill tests kill: a new version of every file of a folder, or deletes.

Run as ``python _version_child.py save SOURCE`` (``ln.save(ln.File.from_dir(SOURCE, key="data"))``,
which makes a new version of each key when the content changed) or ``python _version_child.py
delete KEY`` (``ln.File.select(key=KEY).one().delete(storage=True)``), with LAMIN_HOME and
LAMIN_INSTANCE set. ``LAMIN_TEST_KILL_AT=before_commit`` kills it (SIGKILL) right before COMMIT,
``after_commit`` right after; ``LAMIN_TEST_STOP_AFTER=<LocalBackend method>:<n>`` freezes it
(SIGSTOP) after the n-th call, for the parent to kill.
"""

import os
import sys

from _save_child import die, stop_after  # the kill helpers of the save kill tests

import lamin_flows as ln


def main() -> None:
    stop_at = os.environ.get("LAMIN_TEST_STOP_AFTER", "")
    if stop_at:
        method_name, n = stop_at.split(":")
        stop_after(method_name, int(n))
    mode, target = sys.argv[1], sys.argv[2]
    files = ln.File.from_dir(target, key="data") if mode == "save" else None
    moment = os.environ.get("LAMIN_TEST_KILL_AT", "")
    if moment == "before_commit":
        import sqlalchemy as sa

        from lamin_flows.registry import instance

        sa.event.listen(instance.current().engine, "commit", die)  # runs before the DBAPI commit
    elif moment == "after_commit":
        from lamin_flows.registry import file_commit

        if mode == "save":
            file_commit.after_save = die
        else:
            file_commit._delete_quietly = die  # the first storage step once a delete has committed
    if mode == "save":
        ln.save(files)
    else:
        ln.File.select(key=target).one().delete(storage=True)
    print("done")


if __name__ == "__main__":
    main()
