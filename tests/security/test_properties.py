"""Property tests (hypothesis) on hostile input, end to end through the registry.

* Keys: whatever a user passes as ``key=`` (unicode, ``..``, backslashes, NUL and control
  characters, absolute paths, ``~``, percent-encoded separators, over-long names), either the
  File is refused with a ValueError and nothing changes, or its data lands inside the storage
  root, under the normalized key, and nowhere else: on a local folder and on S3 (moto).
* Query values: whatever string is used in a filter, it is compared as a value: exact and
  ``__startswith``/``__endswith``/``__contains`` filters return exactly the records Python's
  own string operations pick (so ``%``, ``_`` and ``\\`` are literal), ``__in`` likewise, and
  nothing in the registry changes (``"' OR 1=1 --"`` returns nothing; no table is dropped). A NUL
  character is refused with a ValidationError on both databases.
* Field names: any ``field__lookup`` name is either a known field or refused by name.

Example counts are fixed by ``settings(max_examples=...)`` below; the figures in
``tests/reliability/README.md`` are their sum.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import lamin_flows as ln
from lamin_flows.errors import UnknownFieldError, ValidationError

KEY_EXAMPLES = 300
S3_KEY_EXAMPLES = 50
QUERY_EXAMPLES = 150  # per database
FIELD_EXAMPLES = 100

_segment = st.one_of(
    st.sampled_from(
        [
            "..",
            ".",
            "",
            "~",
            "~root",
            "a",
            "%2e%2e",
            "%2F",
            "%2f..",
            "%5c",
            "..%2F..",
            "C:",
            "c:\\x",
            "\\..",
            "..\\..",
            " ",
            "...",
            ".lamindb",
            "_tmp",
            "\x00",
            "a\x00b",
            "\n",
            "\x7f",
            "é",
            "e\u0301",
            "\u202e",
            "日本",
            "🙂",
            "con",
            "x" * 256,
            "y" * 255,
        ]
    ),
    st.text(min_size=1, max_size=12),
)
_printable = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
_keys = st.one_of(
    st.lists(_printable, min_size=1, max_size=4).map("/".join),  # mostly valid: stored, then checked
    st.lists(_segment, min_size=1, max_size=6).map("/".join),
    st.lists(_segment, min_size=1, max_size=4).map("\\".join),
    st.lists(_segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    st.integers(min_value=900, max_value=1200).map(lambda n: "/".join(["d" * 100] * (n // 101)) + "/f.txt"),
    st.text(max_size=40),
)


def _settings(examples: int) -> settings:
    # one instance serves every example of a test (the fixtures are function-scoped on purpose)
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture
def fenced(tmp_path):
    """An instance whose storage root sits deep inside a fence: tmp/fence/inner/data."""
    fence = tmp_path / "fence"
    root = fence / "inner" / "data"
    root.mkdir(parents=True)
    ln.setup.init(storage=root, name="fenced")
    ln.settings.verbosity = 0
    return fence, root.resolve()


@_settings(KEY_EXAMPLES)
@given(key=_keys)
@example(key="../../escape.txt")
@example(key="/etc/passwd")
@example(key="~/.ssh/authorized_keys")
@example(key="a/%2e%2e/%2e%2e/x")
@example(key="..\\..\\x")
@example(key="a/\x00/b")
def test_no_key_escapes_the_storage_root(fenced, tmp_path, key):
    fence, root = fenced
    source = tmp_path / "source.bin"
    content = os.urandom(16)  # new content every time: no "same content" shortcut
    source.write_bytes(content)
    before = ln.File.select().count()
    try:
        file = ln.File(source, key=key).save()
    except (ValueError, FileExistsError):  # InvalidKeyError, ValidationError; KeyConflictError
        event("refused")
        assert ln.File.select().count() == before
    else:
        event("stored")
        path = Path(os.path.realpath(file.path()))
        assert path.is_relative_to(root) and path.read_bytes() == content
        assert (
            file.key is not None
            and not file.key.startswith((".lamindb/", "/", "~"))
            and ".." not in file.key.split("/")
        )
    assert _files_under(fence) == {f"inner/data/{k}" for k in _files_under(root)}  # nothing beside the root
    assert {p.name for p in tmp_path.iterdir()} <= {"fence", "source.bin", "lamin-home"}


@pytest.fixture
def bucket(s3_endpoint, s3_bucket):
    import _s3

    ln.setup.init(storage=f"s3://{s3_bucket}/fence/data", name="s3fenced")
    ln.settings.verbosity = 0
    return s3_bucket, _s3.s3_client(s3_endpoint)


@_settings(S3_KEY_EXAMPLES)
@given(key=_keys)
@example(key="../escape.txt")
@example(key="a/%2e%2e/%2e%2e/x")
def test_no_key_escapes_the_bucket_prefix(bucket, tmp_path, key):
    name, client = bucket
    source = tmp_path / "source.bin"
    content = os.urandom(16)
    source.write_bytes(content)
    try:
        file = ln.File(source, key=key).save()
    except (ValueError, FileExistsError):
        event("refused")
    else:
        event("stored")
        assert str(file.path()) == f"s3://{name}/fence/data/{file.key}"
        assert client.get_object(Bucket=name, Key=f"fence/data/{file.key}")["Body"].read() == content
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", [])]
    assert all(k.startswith("fence/data/") and "/../" not in f"/{k}/" for k in keys)


NAMES = [
    "abc",
    "ABC",
    "a%c",
    "a_c",
    "a\\c",
    "100%",
    "_",
    "%",
    "x' OR '1'='1",
    "'; DROP TABLE tag; --",
    'q"uote',
    "a b",
    "é",
    "e\u0301",
    "日本語",
    "🙂",
    "",
    "[a-c]",
    "a*c",
    "a?c",
    "^$",
    "\\%",
    "%_%",
]


@pytest.fixture
def tags(ln):
    ln.save([ln.Tag(name=n) for n in NAMES])
    ln.settings.verbosity = 0
    return ln


def _names(qs) -> list[str]:
    return sorted(t.name for t in qs)


def _state(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            return {t: int(conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar() or 0) for t in tables}
    finally:
        engine.dispose()


@_settings(QUERY_EXAMPLES)
@given(
    value=st.one_of(
        st.sampled_from(NAMES), st.text(max_size=12), st.sampled_from(["%", "_", "%%", "' OR 1=1 --", "\\"])
    )
)
@example(value="' OR 1=1 --")
@example(value="x' OR '1'='1")
@example(value="%")
@example(value="_")
@example(value="a_")
@example(value="'; DROP TABLE tag; --")
def test_query_values_are_only_values(tags, value):
    ln = tags
    url = ln.setup.settings.instance.url
    before = _state(url)
    if "\x00" in value:  # PostgreSQL cannot hold NUL, SQLite compares past it: refused, on both
        with pytest.raises(ValidationError, match="NUL"):
            ln.Tag.select(name=value).all()
    else:
        assert _names(ln.Tag.select(name=value)) == sorted(n for n in NAMES if n == value)
        assert _names(ln.Tag.select(name__startswith=value)) == sorted(n for n in NAMES if n.startswith(value))
        assert _names(ln.Tag.select(name__endswith=value)) == sorted(n for n in NAMES if n.endswith(value))
        assert _names(ln.Tag.select(name__contains=value)) == sorted(n for n in NAMES if value in n)
        assert _names(ln.Tag.select(name__in=[value, "abc"])) == sorted(n for n in NAMES if n in (value, "abc"))
        if value.isascii():  # SQL lower() and Python's lower() agree on ASCII
            assert _names(ln.Tag.select(name__icontains=value)) == sorted(
                n for n in NAMES if value.lower() in n.lower()
            )
        assert ln.File.select(key=value, hash=value).count() == 0
    assert _state(url) == before  # nothing changed, nothing dropped


@_settings(FIELD_EXAMPLES)
@given(field=st.text(min_size=1, max_size=30))
@example(field="name; DROP TABLE tag")
@example(field="name__startswith__x")
@example(field="1=1 OR name")
@example(field="cls")
@example(field="self")
def test_field_names_are_known_fields_or_refused(tags, field):
    ln = tags
    try:
        ln.Tag.select(**{field: "abc"}).all()
    except (UnknownFieldError, ValueError) as error:  # ValidationError for a known field used wrongly
        assert isinstance(error, ValueError)
    with pytest.raises(UnknownFieldError):
        ln.Tag.select().order_by(field + "_not_a_column").all()
    assert len(ln.Tag.select()) == len(NAMES)
