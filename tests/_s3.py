"""A moto S3 server over HTTP for tests, shared by the storage and registry suites.

s3fs talks to S3 through aiobotocore over real HTTP, which in-process mocks (``mock_aws``) do not
intercept, so tests run against moto's threaded server on 127.0.0.1 instead.

Example (pytest, see tests/storage/conftest.py)::

    server, endpoint = start_moto_server()
    with aws_test_env(endpoint):
        create_bucket(endpoint, "my-bucket")
        ...
    server.stop()
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# variables that could point the AWS SDK at real accounts or a different endpoint
_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_EC2_METADATA_DISABLED",
    *TEST_CREDENTIALS,
)


def start_moto_server() -> tuple[Any, str]:
    """Start moto's S3 server on a free port of 127.0.0.1; return ``(server, endpoint_url)``.

    Call ``server.stop()`` when done.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # port 0: the OS picks a free one
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


@contextmanager
def aws_test_env(endpoint_url: str, **overrides: str | None) -> Iterator[None]:
    """Point the AWS SDK at ``endpoint_url`` with test credentials, restoring the environment after.

    ``overrides`` set (or, with None, remove) further variables, e.g. ``AWS_ACCESS_KEY_ID=None``.
    """
    saved = {name: os.environ.get(name) for name in {*_AWS_VARIABLES, *overrides}}
    values: dict[str, str | None] = {name: None for name in _AWS_VARIABLES}
    values.update(TEST_CREDENTIALS)
    values.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_EC2_METADATA_DISABLED="true",  # never wait for an instance metadata service
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
    )
    values.update(overrides)
    try:
        _apply(values)
        yield
    finally:
        _apply(saved)


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def s3_client(endpoint_url: str) -> Any:
    """A boto3 S3 client for the moto server (with the test credentials)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def create_bucket(endpoint_url: str, name: str | None = None) -> str:
    """Create a bucket (a fresh unique name if none is given) and return its name."""
    name = name or f"test-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint_url).create_bucket(Bucket=name)
    return name


@contextmanager
def iam_enforced(endpoint_url: str) -> Iterator[None]:
    """Make the moto server check credentials (unknown access keys get 403) inside the block."""
    import requests

    previous = requests.post(f"{endpoint_url}/moto-api/reset-auth", data=b"0", timeout=10).json()
    try:
        yield
    finally:
        restore = previous["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
        requests.post(f"{endpoint_url}/moto-api/reset-auth", data=str(restore).encode(), timeout=10)


def clear_s3fs_instances() -> None:
    """Forget cached s3fs filesystem instances and lamin_flows backends (after env changes)."""
    import s3fs

    from lamin_flows.storage import clear_backend_cache

    s3fs.S3FileSystem.clear_instance_cache()
    clear_backend_cache()
