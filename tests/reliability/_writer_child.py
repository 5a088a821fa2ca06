"""One of the concurrent writers: prepares 1,000 Files, waits at a start line, then saves them.

Run as ``python _writer_child.py WORKDIR INDEX N_WRITERS`` with LAMIN_HOME and LAMIN_INSTANCE set.
Writes ``WORKDIR/ready-INDEX`` when prepared and starts saving when ``WORKDIR/go`` appears (a
file-based barrier across processes). Prints a JSON summary on stdout.

Of its 1,000 Files:
* 700 are its own (``w<i>/f<jjj>.txt``), saved in batches of 100 with the same new Tags as every
  other writer ("race", "race-0".."race-9");
* 100 have the same content under the same key in every writer (``shared/s<jjj>.txt``);
* 100 have the same content in every writer and no key (copied in, deduplicated by content);
* 100 have the writer's own content under a key every writer uses (``conflict/c<jjj>.txt``), saved
  one by one: each save is a new version of the key, the last one saved is the latest.
"""

import json
import sys
import time
from pathlib import Path

import lamin_flows as ln

N_OWN, N_SHARED, N_DUP, N_CONFLICT, BATCH = 700, 100, 100, 100, 100
TAG_NAMES = ["race", *[f"race-{k}" for k in range(10)]]


def folder_of(root: Path, name: str, texts: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for file_name, text in texts.items():
        (folder / file_name).write_text(text)
    return folder


def main() -> None:
    work, index = Path(sys.argv[1]), int(sys.argv[2])
    src = work / f"src{index}"
    # File.from_dir copies each group into the temporary area now, before the start line
    own = ln.File.from_dir(
        folder_of(src, "own", {f"f{j:03d}.txt": f"writer {index} file {j}\n" for j in range(N_OWN)}), key=f"w{index}"
    )
    shared = ln.File.from_dir(
        folder_of(src, "shared", {f"s{j:03d}.txt": f"shared {j}\n" for j in range(N_SHARED)}), key="shared"
    )
    dup_folder = folder_of(src, "dup", {f"dup{j:03d}.txt": f"same content {j}\n" for j in range(N_DUP)})
    dup = [ln.File(dup_folder / f"dup{j:03d}.txt") for j in range(N_DUP)]  # no key: deduplicated
    conflict = ln.File.from_dir(
        folder_of(src, "conflict", {f"c{j:03d}.txt": f"conflict {j} from writer {index}\n" for j in range(N_CONFLICT)}),
        key="conflict",
    )
    (work / f"ready-{index}").touch()
    while not (work / "go").exists():
        time.sleep(0.001)
    started = time.monotonic()
    tags = [ln.Tag(name=n) for n in TAG_NAMES]
    ln.save(tags)  # every writer creates the same new tags at once
    won = []
    rounds = N_OWN // BATCH  # 7 rounds; each also saves a seventh of the other groups
    for r in range(rounds):
        batch = own[r * BATCH : (r + 1) * BATCH]
        for f in batch:
            f.tags.add(tags[0], tags[1 + r % 10])
        ln.save(batch)
        ln.save(shared[r * N_SHARED // rounds : (r + 1) * N_SHARED // rounds])
        ln.save(dup[r * N_DUP // rounds : (r + 1) * N_DUP // rounds])
        for f in conflict[r * N_CONFLICT // rounds : (r + 1) * N_CONFLICT // rounds]:
            f.save()  # a new version of the key (or the same content a writer saved already)
            won.append([f.key, f.id, f.version])
    summary = {
        "index": index,
        "seconds": time.monotonic() - started,
        "tag_ids": sorted(t.id for t in tags),
        "own": [f.id for f in own],
        "shared": [f.id for f in shared],
        "dup": [f.id for f in dup],
        "won": won,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
