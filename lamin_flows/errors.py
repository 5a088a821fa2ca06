"""The errors lamin_flows raises.

Every error derives from :class:`LaminFlowsError` and also from the builtin a caller
would naturally catch, so ``except FileNotFoundError`` keeps working::

    LaminFlowsError
    ├── InvalidKeyError (ValueError)            a key that is absolute, has "..", NUL, ...
    ├── ValidationError (ValueError)            a bad argument or field value
    │   ├── UnknownFieldError                   a field, lookup or keyword the registry lacks
    │   ├── StaleRecordError                    a handle whose record was deleted or replaced meanwhile
    │   ├── StorageOwnedError                   the storage root belongs to another instance
    │   └── InstanceConflictError               the registry database belongs to another instance
    ├── UnsupportedObjectError (TypeError)      ln.File(<an object we cannot store>)
    ├── KeyConflictError (FileExistsError)      a key already holds other content
    ├── NoResultError (LookupError)             .one() found no record
    ├── MultipleResultsError (LookupError)      .one() found several records
    ├── InstanceNotFoundError (LookupError)     no instance set up / unknown instance name
    ├── TrackingError (RuntimeError)            ln.track()/ln.finish() called where they cannot work
    ├── RegistryBusyError (TimeoutError)        another process held the registry's write lock too long
    ├── StorageError (OSError)                  the storage refused or failed an operation
    │   ├── StorageNotFoundError (FileNotFoundError)
    │   ├── StoragePermissionError (PermissionError)  denied, or a read-only filesystem
    │   ├── StorageFullError                    no space left on the storage's disk (ENOSPC)
    │   └── SourceChangedError                  a file changed (size/mtime) while read
    └── MissingDependencyError (ImportError)    an optional package is not installed

Messages name the offending value and say what to do next.
"""

from __future__ import annotations

from typing import Any


class LaminFlowsError(Exception):
    """Base class of every error raised by lamin_flows."""


class ValidationError(LaminFlowsError, ValueError):
    """An argument or field value is not acceptable."""


class InvalidKeyError(ValidationError):
    """A storage key would escape its storage root or is otherwise malformed."""


class UnknownFieldError(ValidationError):
    """A query or constructor names a field, lookup or keyword that the registry does not have."""


class UnsupportedObjectError(LaminFlowsError, TypeError):
    """An object cannot be stored as a File."""


class KeyConflictError(LaminFlowsError, FileExistsError):
    """A key already holds different content that a record points to."""


class NoResultError(LaminFlowsError, LookupError):
    """A query expected exactly one record and found none."""


class MultipleResultsError(LaminFlowsError, LookupError):
    """A query expected exactly one record and found several."""


class InstanceNotFoundError(LaminFlowsError, LookupError):
    """No lamin_flows instance is set up, or the named one does not exist."""


class StaleRecordError(ValidationError):
    """A record was deleted, or is no longer the latest version, since this handle was loaded."""


class RegistryBusyError(LaminFlowsError, TimeoutError):
    """Another process held the registry's write lock longer than we wait for it; nothing was written."""


class TrackingError(LaminFlowsError, RuntimeError):
    """``ln.track()`` or ``ln.finish()`` was called where it cannot work (inside a tracked call, twice, ...)."""


class StorageError(LaminFlowsError, OSError):
    """The storage backend failed or refused an operation."""


class StorageNotFoundError(StorageError, FileNotFoundError):
    """A path, object or bucket does not exist."""


class StoragePermissionError(StorageError, PermissionError):
    """Access to a path, object or bucket was denied, or the filesystem is read-only."""


class StorageFullError(StorageError):
    """The storage's disk (or quota) is full: nothing was written (``errno`` is ENOSPC or EDQUOT)."""


class SourceChangedError(StorageError):
    """A file changed (size or modification time) while it was hashed or copied."""


class MissingDependencyError(LaminFlowsError, ImportError):
    """An optional package needed for this operation is not installed."""


class StorageOwnedError(ValidationError):
    """A storage root (or a root around or inside it) belongs to another lamin_flows instance."""


class InstanceConflictError(ValidationError):
    """A registry database belongs to another lamin_flows instance."""


def did_you_mean(name: str, valid: Any) -> str:
    """`` Did you mean 'x'?`` for the closest of ``valid``, or an empty string (for messages).

    Example:
        >>> did_you_mean("keyy", ["key", "size"])
        " Did you mean 'key'?"
    """
    import difflib

    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
