"""What the fsspec backend needs around the filesystem calls: loading the protocol's package,
reading S3 ETags, translating provider errors into lamin_flows errors, abandoning uploads.

Error translation keeps the provider's exception as ``__cause__`` and names the bucket and what to
check. s3fs already turns botocore's ``ClientError`` into ``FileNotFoundError``/``PermissionError``;
credential errors raised before any request (botocore's ``NoCredentialsError`` and friends) are
recognized by class name, so this module never imports botocore.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from lamin_flows.errors import (
    LaminFlowsError,
    MissingDependencyError,
    StorageError,
    StorageNotFoundError,
    StoragePermissionError,
    ValidationError,
)
from lamin_flows.storage.hashing import HashResult, b64

PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}
BUCKETED = {"s3", "s3a", "gs", "gcs"}  # protocols whose first path segment is a bucket that can be missing
_CREDENTIALS_HINT = {
    "s3fs": "AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the endpoint (AWS_ENDPOINT_URL)",
    "gcsfs": "GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`",
}
# botocore/google-auth errors that mean "who are you?" rather than "no such thing"
_CREDENTIAL_ERRORS = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "ProfileNotFound",
    "UnauthorizedSSOTokenError",
    "SSOTokenLoadError",
    "DefaultCredentialsError",
}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ClientConnectorError",
    "ConnectionRefusedError",
    # the connection was cut while a request was under way
    "ConnectionClosedError",
    "ServerDisconnectedError",
    "ReadTimeoutError",
}
_PLAIN_ETAG = re.compile(r"[0-9a-f]{32}")
_MULTIPART_ETAG = re.compile(r"[0-9a-f]{32}-[0-9]+")


def load_filesystem(protocol: str, storage_options: dict[str, Any] | None) -> Any:
    """A new fsspec filesystem for ``protocol``, importing its package now.

    Raises:
        MissingDependencyError: The protocol's package is not installed (named, with the pip command).
        ValidationError: fsspec knows no such protocol.
    """
    try:
        import fsspec

        cls = fsspec.get_filesystem_class(protocol)
    except ImportError as error:
        package = PACKAGES.get(protocol, f"the fsspec implementation for {protocol!r}")
        raise MissingDependencyError(
            f"Storage on {protocol}:// needs the package {package!r}: pip install {package}"
        ) from error
    except ValueError as error:
        raise ValidationError(
            f"Unknown storage protocol {protocol!r}. Use a local folder, s3://, gs:// or memory://."
        ) from error
    # the backend cache already reuses the instance; skipping fsspec's lets changed credentials take effect
    return cls(skip_instance_cache=True, **(storage_options or {}))


def etag_hash(etag: str | None, size: int) -> HashResult | None:
    """The hash an S3 ETag stands for: a plain MD5 (re-encoded base64url) or a multipart "md5-n" ETag as is.

    A multipart ETag is the MD5 of the parts' MD5s followed by "-<number of parts>": it depends on
    the part size, so it identifies an upload but cannot be recomputed from the content alone.
    Objects encrypted with SSE-KMS have ETags that are not MD5s; they are not told apart here.

    Example:
        >>> etag_hash('"5d41402abc4b2a76b9719d911017c592"', 5)
        HashResult(size=5, hash='XUFAKrxLKna5cZ2REBfFkg', hash_type='md5')
        >>> etag_hash('"9b2cf535f27731c974343645a3985328-3"', 5).hash_type
        'md5-n'
    """
    etag = (etag or "").strip().strip('"').lower()
    if _PLAIN_ETAG.fullmatch(etag):
        return HashResult(size, b64(bytes.fromhex(etag)), "md5")
    if _MULTIPART_ETAG.fullmatch(etag):
        return HashResult(size, etag, "md5-n")
    return None


@contextmanager
def translated_errors(
    root: str, protocol: str, bucket: str, key: str | None, bucket_exists: Callable[[], bool]
) -> Iterator[None]:
    """Turn provider errors raised inside the block into lamin_flows errors (original kept as cause).

    Args:
        root: The storage root, for messages.
        protocol: Its protocol.
        bucket: Its bucket, for messages.
        key: The key being worked on, for messages.
        bucket_exists: Asks the server whether the bucket exists (called only on "not found").
    """
    try:
        yield
    except LaminFlowsError:
        raise
    except FileNotFoundError as error:
        text = f"{error} {error.__cause__ or ''}"
        missing_bucket = protocol in BUCKETED and (
            "NoSuchBucket" in text or "bucket does not exist" in text or not _safely(bucket_exists)
        )
        if missing_bucket:
            raise StorageNotFoundError(
                f"Bucket {bucket!r} does not exist (storage root {root!r}). Check the bucket name,"
                " the account and the endpoint (AWS_ENDPOINT_URL), or create the bucket."
            ) from error
        where = f"key {key!r}" if key else "the requested path"
        raise StorageNotFoundError(f"No object under {where} in storage {root!r}.") from error
    except PermissionError as error:
        raise _denied(root, protocol, bucket) from error
    except Exception as error:
        name = type(error).__name__
        if name in _CREDENTIAL_ERRORS:
            raise _denied(root, protocol, bucket) from error
        if name in _UNREACHABLE:
            raise StorageError(
                f"Cannot reach the storage endpoint of {root!r}. Check the network and the endpoint"
                " (AWS_ENDPOINT_URL or storage_options endpoint_url)."
            ) from error
        raise


def _safely(bucket_exists: Callable[[], bool]) -> bool:
    try:
        return bucket_exists()
    except Exception:  # cannot tell: report "no such object", the milder claim  # noqa: BLE001
        return True


def _denied(root: str, protocol: str, bucket: str) -> StoragePermissionError:
    hint = _CREDENTIALS_HINT.get(PACKAGES.get(protocol, ""), "the credentials in storage_options")
    return StoragePermissionError(
        f"Access to bucket {bucket!r} (storage root {root!r}) was denied or no valid credentials were found."
        f" Check {hint}, and that these credentials may use this bucket."
    )


def abandon(file: Any) -> None:
    """Give up a file open for writing without completing the upload (aborts a multipart upload)."""
    with suppress(Exception):
        file.discard()
    with suppress(Exception):
        file.closed = True  # a later close(), even from __del__, must not commit the partial data
