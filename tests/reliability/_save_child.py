"""The process the kill tests kill: ``File.from_dir(SOURCE)`` then ``ln.save(files)``.

Run as ``python _save_child.py SOURCE``, with LAMIN_HOME and LAMIN_INSTANCE set. The parent
kills it with SIGKILL when the storage shows enough progress. Two moments cannot be seen from
outside, so for them the child kills itself when ``LAMIN_TEST_KILL_AT`` says so:

* ``before_commit``: every row inserted and every file moved into place, COMMIT not yet sent;
* ``after_commit``: committed, before the staged copies and the save journal are cleaned up.

With ``LAMIN_TEST_KILL_AT=pause_before_commit`` it does not die but waits before COMMIT: it
creates ``$LAMIN_TEST_SIGNALS/at-commit`` and goes on when ``$LAMIN_TEST_SIGNALS/resume`` exists
(the fault tests cut its database connection meanwhile).
"""

import os
import signal
import sys
import time
from pathlib import Path

import lamin_flows as ln


def die(*_args: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def pause(*_args: object) -> None:
    signals = Path(os.environ["LAMIN_TEST_SIGNALS"])
    (signals / "at-commit").touch()
    while not (signals / "resume").exists():
        time.sleep(0.01)


def stop_after(method_name: str, n: int) -> None:
    """Freeze this process (SIGSTOP) right after the ``n``-th call of ``LocalBackend.<method_name>``.

    The parent sees the stopped child and kills it with SIGKILL: the moment is chosen by
    progress, exactly, however loaded the machine is (polling the storage from outside can miss
    a phase that takes a fraction of a second).
    """
    import threading

    from lamin_flows.storage.local import LocalBackend

    original = getattr(LocalBackend, method_name)
    lock, calls = threading.Lock(), [0]

    def counted(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        with lock:
            calls[0] += 1
            reached = calls[0] == n
        if reached:
            os.kill(os.getpid(), signal.SIGSTOP)
        return result

    setattr(LocalBackend, method_name, counted)


def main() -> None:
    stop_at = os.environ.get("LAMIN_TEST_STOP_AFTER", "")
    if stop_at:
        method_name, n = stop_at.split(":")
        stop_after(method_name, int(n))
    files = ln.File.from_dir(sys.argv[1])
    moment = os.environ.get("LAMIN_TEST_KILL_AT", "")
    if moment == "before_commit":
        import sqlalchemy as sa

        from lamin_flows.registry import instance

        sa.event.listen(instance.current().engine, "commit", die)  # runs before the DBAPI commit
    elif moment == "pause_before_commit":
        import sqlalchemy as sa

        from lamin_flows.registry import instance

        sa.event.listen(instance.current().engine, "commit", pause)
    elif moment == "after_commit":
        from lamin_flows.registry import file_commit

        file_commit.after_save = die  # the first thing File does once the transaction has committed
    ln.save(files)
    print(f"saved {len(files)}")


if __name__ == "__main__":
    main()
