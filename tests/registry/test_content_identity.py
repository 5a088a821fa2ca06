"""Content identity that an MD5 collision cannot forge (SQLite and PostgreSQL; S3 on the moto server).

The two 128-byte messages of Wang and Yu's 2004 MD5 collision: different bytes, one MD5. Below
16 MiB lamin_flows hashes with MD5, so without a second look the second file would be taken for
the first one and never stored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lamin_flows.errors import KeyConflictError

ONE = bytes.fromhex(
    "d131dd02c5e6eec4693d9a0698aff95c2fcab58712467eab4004583eb8fb7f89"
    "55ad340609f4b30283e488832571415a085125e8f7cdc99fd91dbdf280373c5b"
    "d8823e3156348f5bae6dacd436c919c6dd53e2b487da03fd02396306d248cda0"
    "e99f33420f577ee8ce54b67080a80d1ec69821bcb6a8839396f9652b6ff72a70"
)
TWO = bytes.fromhex(
    "d131dd02c5e6eec4693d9a0698aff95c2fcab50712467eab4004583eb8fb7f89"
    "55ad340609f4b30283e4888325f1415a085125e8f7cdc99fd91dbd7280373c5b"
    "d8823e3156348f5bae6dacd436c919c6dd53e23487da03fd02396306d248cda0"
    "e99f33420f577ee8ce54b67080280d1ec69821bcb6a8839396f965ab6ff72a70"
)


def test_the_pair_is_a_real_md5_collision():
    assert ONE != TWO and len(ONE) == len(TWO) == 128
    assert hashlib.md5(ONE).digest() == hashlib.md5(TWO).digest()


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    (tmp_path / "one.bin").write_bytes(ONE)
    (tmp_path / "two.bin").write_bytes(TWO)
    return tmp_path / "one.bin", tmp_path / "two.bin"


def test_colliding_content_without_a_key_is_not_deduplicated(ln, pair):
    first = ln.File(pair[0]).save()
    second = ln.File(pair[1])
    assert not second._lf.saved and second.id != first.id
    assert second.hash == first.hash and second.hash_type == "md5"  # the MD5 really is the same
    second.save()
    assert Path(second.path()).read_bytes() == TWO and Path(first.path()).read_bytes() == ONE
    assert ln.File(pair[0]).id == first.id  # the same bytes still deduplicate
    assert ln.File.select().count() == 2


def test_colliding_content_under_a_key_is_a_new_version(ln, pair):
    first = ln.File(pair[0], key="x.bin").save()
    second = ln.File(pair[1], key="x.bin")
    assert not second._lf.saved
    second.save()
    assert second.version == "2" and Path(second.path()).read_bytes() == TWO
    assert Path(ln.File.select(id=first.id).one().path()).read_bytes() == ONE
    assert ln.File(pair[1], key="x.bin").id == second.id  # the same bytes are the same version


def test_replace_with_colliding_content_stores_it(ln, pair):
    file = ln.File(pair[0], key="r.bin").save()
    first = file.id
    file.replace(pair[1])
    assert file.id != first and Path(file.path()).read_bytes() == TWO


def test_an_unregistered_colliding_file_at_the_key_is_not_adopted(ln, pair):
    root = Path(ln.setup.settings.storage.root)
    (root / "k.bin").write_bytes(ONE)  # not registered; same MD5 as what is saved next
    with pytest.raises(KeyConflictError, match="no record points to"):
        ln.File(pair[1], key="k.bin").save()
    assert (root / "k.bin").read_bytes() == ONE and ln.File.select().count() == 0
    assert ln.File(pair[0], key="k.bin").save().path().read_bytes() == ONE  # its own bytes: completed


def test_colliding_content_in_a_bucket_is_stored(s3_bucket, pair):
    import lamin_flows as ln

    ln.setup.init(storage=f"s3://{s3_bucket}/p")
    first = ln.File(pair[0]).save()
    second = ln.File(pair[1]).save()
    assert second.id != first.id and second.hash == first.hash
    assert Path(second.stage()).read_bytes() == TWO and Path(first.stage()).read_bytes() == ONE
    keyed = ln.File(pair[0], key="k.bin").save()
    newer = ln.File(pair[1], key="k.bin").save()
    assert newer.id != keyed.id and newer.version == "2" and Path(newer.stage()).read_bytes() == TWO


def test_colliding_content_under_a_key_is_not_taken_for_damaged_data(ln, pair, capsys):
    """The registered copy is intact (its own MD5): no warning that it was changed behind the registry."""
    ln.File(pair[0], key="x.bin").save()
    capsys.readouterr()
    ln.File(pair[1], key="x.bin").save()
    said = capsys.readouterr()
    assert "outside lamin_flows" not in said.out + said.err
