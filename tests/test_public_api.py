"""The public surface: cheap import, exactly the intended names."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = (
    "prefect",
    "pandas",
    "pyarrow",
    "anndata",
    "s3fs",
    "sqlalchemy",
    "sqlmodel",
    "openlineage",
    "lamin_flows.ui",
    "starlette",
    "uvicorn",
    "jinja2",
)  # lamin ui: imported by the command only


def test_import_is_cheap():
    code = f"import sys, lamin_flows as ln; heavy = [m for m in {HEAVY!r} if m in sys.modules]; print(','.join(heavy))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import lamin_flows imported {out.stdout.strip()}"


def test_using_the_registry_does_not_import_prefect_or_cloud(tmp_path):
    code = (
        "import sys, lamin_flows as ln; "
        f"ln.setup.init(storage={str(tmp_path / 'd')!r}); "
        "ln.Tag(name='x').save(); ln.Tag.select().all(); "
        "print(','.join(m for m in ('prefect', 's3fs', 'anndata', 'openlineage') if m in sys.modules))"
    )
    env = {"LAMIN_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_public_names():
    import lamin_flows as ln

    registry = ["File", "Storage", "User", "Transform", "Run", "Tag", "Project", "save", "select", "Q", "view", "setup"]
    registry.append("settings")
    tracking = ["tracked", "track", "finish", "context"]
    assert set(ln.__all__) == {*registry, *tracking, "dev", "errors", "__version__"}
    for name in registry:
        assert getattr(ln, name) is not None


def test_error_tree():
    from lamin_flows import errors

    assert issubclass(errors.InvalidKeyError, ValueError)
    assert issubclass(errors.KeyConflictError, FileExistsError)
    assert issubclass(errors.StorageNotFoundError, FileNotFoundError)
    assert issubclass(errors.UnsupportedObjectError, TypeError)
    assert issubclass(errors.NoResultError, LookupError)
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == errors.__name__:
            assert issubclass(obj, errors.LaminFlowsError)


@pytest.mark.parametrize(("setting", "frozen"), [("true", True), ("false", False)])
def test_the_registry_layer_is_kept_out_of_garbage_collections(tmp_path, setting, frozen):
    """After loading SQLAlchemy & co., their objects sit in the permanent generation (gc.freeze)."""
    code = "import gc, lamin_flows as ln; ln.File; print(gc.get_freeze_count())"
    env = {**os.environ, "LAMIN_HOME": str(tmp_path), "LAMIN_GC_FREEZE": setting}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    count = int(out.stdout.strip())
    assert (count > 10_000) if frozen else (count == 0)
