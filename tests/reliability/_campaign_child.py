"""The process the kill campaign kills: random registry operations, one after the other, forever.

Run as ``python _campaign_child.py SCRATCH SEED`` with LAMIN_HOME and LAMIN_INSTANCE set. It
prints ``ready`` once the instance is loaded, then picks operations with ``random.Random(SEED)``:
saves (with and without a key, some onto keys that hold unregistered files), ``replace()``, a
new version of a folder of files, deletes (keeping or removing the data), ``verify(fix=True)``
and tracked runs that read one File and save another; each completed operation is appended to
``SCRATCH/done.log`` ("<name> ok" or "<name> refused"). The parent kills it (SIGKILL) at a
random moment. Refusals the registry is meant to give (a key holding unregistered bytes, a
version that another process made meanwhile, ...) are expected; any other exception is written
to stderr as ``UNEXPECTED`` and ends the child with exit code 3.
"""

import os
import random
import sys
import traceback
from pathlib import Path

import lamin_flows as ln
from lamin_flows.errors import LaminFlowsError
from lamin_flows.verify import verify

POOL = [f"pool/k{i}.txt" for i in range(10)]
PLANTED = [f"planted/p{i}.txt" for i in range(3)]  # unregistered files the parent put in storage


def main() -> None:
    scratch, seed = Path(sys.argv[1]), int(sys.argv[2])
    scratch.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    counter = [0]

    def source(name: str = "s.txt") -> Path:
        counter[0] += 1
        path = scratch / name
        path.write_text(f"{seed} {counter[0]} {rng.random()}\n" * rng.randint(1, 40))
        return path

    def save() -> None:
        key = rng.choice([*POOL, *PLANTED, None])
        ln.File(source(), key=key).save()

    def replace() -> None:
        files = ln.File.select(key__startswith="pool/").all()
        if files:
            rng.choice(files).replace(source())

    def new_versions() -> None:
        folder = scratch / "batch"
        folder.mkdir(exist_ok=True)
        for j in range(8):
            if rng.random() < 0.6 or not (folder / f"b{j}.txt").exists():
                source(f"batch/b{j}.txt")
        ln.save(ln.File.from_dir(folder, key="batch"))

    def delete() -> None:
        files = ln.File.select().all()
        if files:
            rng.choice(files).delete(storage=rng.random() < 0.8)

    def check() -> None:
        verify(fix=True)

    @ln.tracked(name="campaign_step")
    def step(n: int) -> None:
        inputs = ln.File.select(key__startswith="pool/").all()
        if inputs:
            rng.choice(inputs).load(is_run_input=True)
        ln.File(source("out.txt"), key=f"runs/out{n % 5}.txt").save()

    def tracked_run() -> None:
        step(rng.randint(0, 99))

    operations = [save, save, replace, new_versions, delete, check, tracked_run]
    log = open(scratch / "done.log", "a", buffering=1)  # noqa: SIM115 - open until the parent kills us; what completed, for the parent to count
    ln.File.select().count()  # the instance is loaded and its schema checked
    print("ready", flush=True)
    while True:
        operation = rng.choice(operations)
        try:
            operation()
            log.write(f"{operation.__name__} ok\n")
        except (LaminFlowsError, FileNotFoundError):
            log.write(f"{operation.__name__} refused\n")  # named the value and kept every byte: as meant
        except Exception:  # noqa: BLE001 - anything else is a finding: report it and exit 3
            sys.stderr.write("UNEXPECTED " + traceback.format_exc())
            sys.stderr.flush()
            os._exit(3)


if __name__ == "__main__":
    main()
