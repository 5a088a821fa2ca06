"""Hostile query values and objects get our errors, naming the value once and the fix (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamin_flows.errors import UnknownFieldError, UnsupportedObjectError, ValidationError


@pytest.fixture
def one_file(ln, tmp_path: Path):  # noqa: ANN001, ANN201
    source = tmp_path / "a.txt"
    source.write_text("hello")
    return ln.File(source, key="a.txt").save()


@pytest.mark.parametrize("value", [10**30, -(10**30), 2**63, "1" * 40, 1e30])
def test_integers_beyond_64_bits_are_our_error(ln, one_file, value) -> None:
    with pytest.raises(ValidationError, match="64-bit integers") as info:
        ln.File.select(size__gt=value).all()
    assert "size__gt=" in str(info.value)
    assert not isinstance(info.value, OverflowError)


def test_the_largest_64_bit_integer_still_works(ln, one_file) -> None:
    assert ln.File.select(size__lt=2**63 - 1).count() == 1
    assert ln.File.select(size__gt=-(2**63)).count() == 1
    assert ln.File.select(size__in=[5, 10**3]).count() == 1


def test_in_with_a_string_names_the_lookup_once(ln, one_file) -> None:
    with pytest.raises(ValidationError) as info:
        ln.File.select(key__in="a.txt").all()
    message = str(info.value)
    assert message.startswith("key__in takes a list") and "__in__in" not in message
    assert "key__in=['a.txt']" in message


def test_text_lookup_with_none_names_the_lookup_once(ln, one_file) -> None:
    with pytest.raises(ValidationError) as info:
        ln.File.select(key__startswith=None).all()
    message = str(info.value)
    assert message.startswith("key__startswith cannot compare with None") and "__startswith__startswith" not in message
    assert "key__isnull=True" in message


@pytest.mark.parametrize("expression", ["key__in__in", "key__startswith__startswith"])
def test_a_doubled_lookup_says_one_lookup_per_field(ln, one_file, expression) -> None:
    with pytest.raises(UnknownFieldError, match="one lookup per field") as info:
        ln.File.select(**{expression: ["a.txt"]}).all()
    assert f"write {expression.rsplit('__', 1)[0]}=" in str(info.value)


def test_a_complex_valued_dataframe_is_unsupported(ln, tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"z": [1 + 2j, 3 - 1j], "x": [1, 2]})
    with pytest.raises(UnsupportedObjectError, match="complex") as info:
        ln.File(frame, key="tables/z.parquet")
    assert isinstance(info.value, TypeError) and "two columns" in str(info.value)
    temp = tmp_path / "data" / ".lamindb" / "_tmp"
    assert not temp.exists() or not [p for p in temp.rglob("*") if p.is_file()]  # nothing staged is left
    assert ln.File.select().count() == 0
