"""Hostile params and errors of tracked calls: store what can be stored, name what cannot, and
always end the Run (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest


def test_an_int_of_5000_digits_is_left_out_and_named_and_the_body_runs(ln, capsys) -> None:
    ran = []

    @ln.tracked()
    def big(n: int, label: str = "x") -> str:
        ran.append(n)
        return label

    huge = 10**4999  # 5,000 digits: beyond Python's int-to-text limit (4,300)
    assert big(huge) == "x"
    assert ran == [huge]
    run = ln.Run.select().one()
    assert run.status == "completed"
    assert run.params == {"label": "x"}
    err = capsys.readouterr().err
    assert "'n'" in err and "4,300 digits" in err and "left out" in err


def test_an_int_beyond_64_bits_but_printable_is_stored(ln) -> None:
    @ln.tracked()
    def wide(n: int) -> None:
        pass

    wide(2**100)
    assert ln.Run.select().one().params == {"n": 2**100}


def test_a_nul_in_the_error_message_still_ends_the_run(ln) -> None:
    @ln.tracked()
    def fails() -> None:
        raise ValueError("bad byte \x00 here")

    with pytest.raises(ValueError, match="bad byte"):
        fails()
    run = ln.Run.select().one()
    assert run.status == "failed" and run.finished_at is not None
    assert run.error == "ValueError: bad byte \\x00 here"


def test_a_nul_in_a_param_is_left_out_and_named(ln, capsys) -> None:
    @ln.tracked()
    def step(text: str, n: int = 1) -> int:
        return n

    assert step("a\x00b") == 1
    run = ln.Run.select().one()
    assert run.status == "completed" and run.params == {"n": 1}
    assert "'text'" in capsys.readouterr().err


def test_keys_that_collide_in_json_keep_the_first_and_name_the_other(ln, capsys) -> None:
    @ln.tracked()
    def step(mapping: dict) -> None:
        pass

    step({1: "int key", "1": "str key", "2": "other"})
    run = ln.Run.select().one()
    assert run.status == "completed"
    assert run.params == {"mapping": {"1": "int key", "2": "other"}}
    err = capsys.readouterr().err
    assert "'mapping'" in err and "the key '1'" in err and "kept the key 1" in err
