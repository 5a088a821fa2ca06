"""Keys and Unicode, colons and Windows names: NFC form, invisible and bidi characters refused by
name, ``a:b.txt`` accepted while drive letters stay absolute, reserved Windows names warned about."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

from lamin_flows.errors import InvalidKeyError
from lamin_flows.storage import get_backend, validate_key

NFD = unicodedata.normalize("NFD", "café/résumé.txt")


@pytest.mark.parametrize("key", ["a:b.txt", "c:x", "data/run:1/x.csv", "ab:/x", "2026-12-02T10:00:00.json"])
def test_colons_are_ordinary_characters(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["C:", "c:/x", "Z:/data/x.csv"])
def test_a_drive_letter_is_absolute(key: str) -> None:
    with pytest.raises(InvalidKeyError, match="absolute"):
        validate_key(key)


def test_keys_are_put_in_nfc_form() -> None:
    assert NFD != "café/résumé.txt"
    assert validate_key(NFD) == "café/résumé.txt"
    assert validate_key("café/résumé.txt") == "café/résumé.txt"


@pytest.mark.parametrize(
    ("char", "name"),
    [
        ("\u202e", "RIGHT-TO-LEFT OVERRIDE"),
        ("\u200b", "ZERO WIDTH SPACE"),
        ("\ufeff", "ZERO WIDTH NO-BREAK SPACE"),
        ("\u2028", "LINE SEPARATOR"),
        ("\u2029", "PARAGRAPH SEPARATOR"),
        ("\u2066", "LEFT-TO-RIGHT ISOLATE"),
        ("\u200f", "RIGHT-TO-LEFT MARK"),
        ("\u00ad", "SOFT HYPHEN"),
    ],
)
def test_invisible_and_bidi_characters_are_refused_by_name(char: str, name: str) -> None:
    key = f"reports/invoice{char}fdp.exe"
    with pytest.raises(InvalidKeyError) as caught:
        validate_key(key)
    message = str(caught.value)
    assert f"U+{ord(char):04X}" in message and name in message and "position 15" in message


@pytest.mark.parametrize("key", ["CON", "con.txt", "data/LPT1/x.csv", "a/nul.tar.gz", "Aux", "com7.log"])
def test_windows_reserved_names_pass_with_a_warning(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_key(key) == key
    assert "reserved name on Windows" in capsys.readouterr().err
    validate_key(key)
    assert capsys.readouterr().err == ""  # once per key and process


@pytest.mark.parametrize("key", ["console.txt", "data/contrib/x.csv", "lpt/nul_x.txt", "auxiliary", "com10"])
def test_names_that_only_look_reserved_pass_silently(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_key(key) == key
    assert capsys.readouterr().err == ""


def test_a_file_named_in_nfd_is_not_registered_in_place_under_another_name(tmp_path: Path) -> None:
    """In place, the key must name the file: an NFD name (as macOS writes) is refused, with the fix."""
    root = tmp_path / "store"
    nfd_file = root / NFD
    nfd_file.parent.mkdir(parents=True)
    nfd_file.write_text("x")
    with pytest.raises(InvalidKeyError, match="NFC") as caught:
        get_backend(root).relative_key(nfd_file)
    assert "résumé.txt" in unicodedata.normalize("NFC", str(caught.value))
    nfc_file = root / "café" / "ok.txt"
    nfc_file.parent.mkdir()
    nfc_file.write_text("y")
    assert get_backend(root).relative_key(nfc_file) == "café/ok.txt"


def test_a_copied_in_nfd_name_is_stored_under_its_nfc_key(ln_sqlite, tmp_path: Path) -> None:  # noqa: ANN001
    source = tmp_path / unicodedata.normalize("NFD", "résumé.txt")
    source.write_text("cv")
    file = ln_sqlite.File(source, key=unicodedata.normalize("NFD", "cv/résumé.txt")).save()
    assert file.key == "cv/résumé.txt"
    assert (tmp_path / "data" / "cv" / "résumé.txt").read_text() == "cv"
    assert os.listdir(tmp_path / "data" / "cv") == ["résumé.txt"]
