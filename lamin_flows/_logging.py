"""User-facing messages that respect ``ln.settings.verbosity``.

0: errors only, 1: + warnings, 2: + info and success (default), 3: + hints and debug notes.
Messages go to stderr so they never mix with data a command prints.
"""

from __future__ import annotations

import sys

_LEVELS = {"warning": 1, "info": 2, "success": 2, "hint": 3, "debug": 3}
_PREFIX = {"warning": "! ", "info": "• ", "success": "✓ ", "hint": "💡 ", "debug": "· "}


def _verbosity() -> int:
    from lamin_flows.config import get_settings

    return get_settings().verbosity


def _emit(kind: str, message: str) -> None:
    if _verbosity() >= _LEVELS[kind]:
        print(_PREFIX[kind] + message, file=sys.stderr)


def warning(message: str) -> None:
    """Something the user should know went differently than asked."""
    _emit("warning", message)


def info(message: str) -> None:
    """What happened."""
    _emit("info", message)


def success(message: str) -> None:
    """Something finished."""
    _emit("success", message)


def hint(message: str) -> None:
    """A suggestion, shown at verbosity 3."""
    _emit("hint", message)


def debug(message: str) -> None:
    """A detail that only matters when looking into a problem (a skipped optimisation), shown at verbosity 3."""
    _emit("debug", message)


def show_progress() -> bool:
    """Whether long work should draw a progress bar (verbosity >= 2)."""
    return _verbosity() >= 2
