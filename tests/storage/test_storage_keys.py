"""validate_key: what passes, what is refused (with a message that says why), and that nothing
that passes can leave the storage root."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamin_flows.errors import InvalidKeyError
from lamin_flows.storage import validate_key


@pytest.mark.parametrize(
    ("key", "normal"),
    [
        ("a.csv", "a.csv"),
        ("data/raw/cells.parquet", "data/raw/cells.parquet"),
        ("a/./b.txt", "a/b.txt"),
        ("./a.txt", "a.txt"),
        ("a//b.txt", "a/b.txt"),
        (".lamindb/AbC123.parquet", ".lamindb/AbC123.parquet"),
        ("a/~b/c", "a/~b/c"),
        ("naïve/日本.csv", "naïve/日本.csv"),
        ("100%.csv", "100%.csv"),
        ("a..b/c...d", "a..b/c...d"),
        ("x" * 255, "x" * 255),
    ],
)
def test_valid_keys_are_normalized(key: str, normal: str) -> None:
    assert validate_key(key) == normal


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("C:\\x", "backslash"),
        ("C:/x", "absolute"),
        ("\\\\server\\share", "backslash"),
        ("..", ".."),
        ("../x", ".."),
        ("a/../../x", ".."),
        ("a/..", ".."),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\\b", "backslash"),
        ("~/x", "~"),
        ("~user/x", "~"),
        ("a%2fb", "percent"),
        ("%2E%2E/x", "percent"),
        ("a%5cb", "percent"),
        ("a/", "ends with '/'"),
        (".", "root"),
        ("./", "ends with '/'"),
        ("x" * 256, "255 bytes"),
        ("é" * 128, "255 bytes"),
        ("/".join(["x" * 200] * 6), "1024 bytes"),
    ],
)
def test_invalid_keys_are_refused_with_reason(key: str, reason: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        validate_key(key)
    message = str(info.value)
    assert reason in message
    assert repr(key)[:40] in message or len(key) > 40  # the message names the key
    assert isinstance(info.value, ValueError)


def test_non_string_key_is_refused() -> None:
    with pytest.raises(InvalidKeyError, match="must be a str"):
        validate_key(Path("a.txt"))  # type: ignore[arg-type]


_segment = st.one_of(
    st.sampled_from(["..", ".", "", "~", "a", "%2e%2e", "%2F", "..%2f", "C:", "\\..", " ", "...", ".lamindb"]),
    st.text(min_size=1, max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_segment, min_size=1, max_size=6).map("/".join))
def test_no_valid_key_escapes_the_root(key: str) -> None:
    try:
        normal = validate_key(key)
    except InvalidKeyError:
        return
    root = "/srv/store"
    joined = posixpath.normpath(posixpath.join(root, normal))
    assert joined.startswith(root + "/")
    assert posixpath.normpath(normal) == normal  # nothing left for a filesystem to reinterpret
    assert not normal.startswith(("/", "~")) and "\\" not in normal and "\x00" not in normal
    url = f"s3://bucket/prefix/{normal}"
    assert posixpath.normpath(url[len("s3://") :]).startswith("bucket/prefix/")


@settings(max_examples=100, deadline=None)
@given(st.lists(_segment, min_size=1, max_size=4).map("/".join))
def test_no_valid_key_resolves_outside_a_real_folder(tmp_path_factory: pytest.TempPathFactory, key: str) -> None:
    try:
        normal = validate_key(key)
    except InvalidKeyError:
        return
    root = Path(tmp_path_factory.getbasetemp()).resolve() / "root"
    resolved = Path(os.path.realpath(root / normal))
    assert resolved.is_relative_to(root)


_TRICKY = st.text(alphabet="ab_.-~%/\\:é \x00+=,@2fF", max_size=24)


@given(_TRICKY)
@settings(max_examples=400, deadline=None)
def test_the_fast_path_only_takes_keys_every_check_passes_unchanged(key: str) -> None:
    from lamin_flows.storage.keys import _PLAIN, _checked_key

    if _PLAIN.fullmatch(key):
        assert _checked_key(key) == key
    try:
        expected = _checked_key(key)
    except InvalidKeyError:
        with pytest.raises(InvalidKeyError):
            validate_key(key)
    else:
        assert validate_key(key) == expected


@pytest.mark.parametrize("key", ["a/b.csv", ".lamindb/_tmp/3f9c-x.csv", "...", "a/.../b", "x" * 255, "a-b/c_d+e=f,g@h"])
def test_plain_keys_take_the_fast_path(key: str) -> None:
    from lamin_flows.storage.keys import _PLAIN

    assert _PLAIN.fullmatch(key) and validate_key(key) == key
