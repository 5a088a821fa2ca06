"""A call's arguments as JSON: what a Run stores in ``params``.

Arguments are bound to the signature with their defaults. Plain JSON values are kept as they
are, records are stored by id, paths/dates/UUIDs/enums as text; a value that cannot be stored
(a DataFrame, an open file, ...) is left out and named in a warning once per function.
"""

from __future__ import annotations

import datetime as dt
import enum
import inspect
import math
import os
import uuid
from collections.abc import Mapping
from typing import Any

from lamin_flows import _logging


class Unstorable(Exception):
    """A value has no JSON form."""


def to_json(value: Any, depth: int = 0, dropped: list[str] | None = None) -> Any:
    """The JSON form of ``value``; raises :class:`Unstorable` if it has none.

    Parts of a container that cannot be stored (a dict key that another key already stands
    for in JSON, such as ``1`` next to ``"1"``) are left out and described in ``dropped``.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > 64 * 1024:  # str() of it is refused (or takes seconds): no JSON form
            raise Unstorable(f"an integer of {value.bit_length():,} bits")
        try:
            str(value)  # beyond sys.get_int_max_str_digits() (4,300), json.dumps and SQL errors fail
        except ValueError:
            raise Unstorable(f"an integer of more than {_max_digits():,} digits") from None
        return value
    if isinstance(value, str):
        if "\x00" in value:  # PostgreSQL's JSON (and text) cannot hold NUL
            raise Unstorable("text containing a NUL character (\\x00)")
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)  # PostgreSQL JSON has no NaN/Infinity
    if depth > 20:
        raise Unstorable("nested too deeply")
    if hasattr(value, "_lf") and isinstance(getattr(value, "id", None), str):
        return value.id  # a record: its id
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_json(value.value, depth + 1, dropped)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        origin: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise Unstorable(f"a key of type {type(key).__name__}")
            text = to_json(key, depth + 1) if not isinstance(key, str) else key
            text = str(text)
            if "\x00" in text:
                if dropped is not None:
                    dropped.append(f"the key {key!r} (it contains a NUL character)")
                continue
            if text in out:  # JSON keys are text: 1 and "1" would be one key, and one value lost silently
                if dropped is not None:
                    dropped.append(f"the key {key!r} (kept the key {origin[text]!r}; both are {text!r} in JSON)")
                continue
            out[text] = to_json(item, depth + 1, dropped)
            origin[text] = key
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_json(item, depth + 1, dropped) for item in items]
    raise Unstorable(type(value).__name__)


def _max_digits() -> int:
    import sys

    return sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300


class ParamBinder:
    """Binds the arguments of one function's calls to JSON params."""

    def __init__(self, fn: Any, label: str) -> None:
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):  # builtins without a signature
            self.signature = None
        self.label = label
        self._warned: set[str] = set()

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments (with defaults) as a JSON-safe dict."""
        if self.signature is None:
            raw: dict[str, Any] = {"args": list(args), "kwargs": kwargs} if (args or kwargs) else {}
        else:
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError:
                return {}  # the call itself will raise the TypeError with Python's message
            bound.apply_defaults()
            raw = dict(bound.arguments)
        params: dict[str, Any] = {}
        for name, value in raw.items():
            dropped: list[str] = []
            try:
                params[name] = to_json(value, dropped=dropped)
            except Unstorable as exc:
                if name not in ("self", "cls"):  # a method's instance or class is not a parameter worth naming
                    self._warn(name, value, exc)
                continue
            if dropped and name not in self._warned:
                self._warned.add(name)
                more = f" (and {len(dropped) - 1} more)" if len(dropped) > 1 else ""
                _logging.warning(f"{self.label}: parameter {name!r}: {dropped[0]}{more} left out of run.params")
        return params

    def _warn(self, name: str, value: Any, exc: Unstorable) -> None:
        if name in self._warned:
            return
        self._warned.add(name)
        _logging.warning(
            f"{self.label}: parameter {name!r} ({type(value).__name__}; {exc}) cannot be stored in run.params"
            " and is left out. Pass a saved File (stored by id), a path or a plain value to record it."
        )
