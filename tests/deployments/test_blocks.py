"""The LaminInstance block: secrets stay secret, activation touches nothing on disk."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest


def test_the_block_module_is_a_prefect_collection() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="prefect.collections")}
    assert found.get("lamin_flows") == "lamin_flows.tasks.blocks"
    from lamin_flows.tasks.blocks import LaminInstance

    assert LaminInstance.get_block_type_slug() == "lamin-instance"


def test_secrets_are_hidden_but_reach_the_config() -> None:
    from lamin_flows.tasks.blocks import LaminInstance

    block = LaminInstance(
        storage_root="s3://bucket/prefix/",
        db_url="postgresql+psycopg://lamin:hunter2@db.internal/lamin",
        storage_options={"key": "AKIA", "secret": "s3cr3t"},
        name="prod",
    )
    for text in (repr(block), str(block), json.dumps(block.model_dump(mode="json"))):
        assert "hunter2" not in text and "s3cr3t" not in text
    config = block.config()
    assert config.db_url == "postgresql+psycopg://lamin:hunter2@db.internal/lamin"
    assert config.storage_options == {"key": "AKIA", "secret": "s3cr3t"}
    assert config.storage_root == "s3://bucket/prefix" and config.name == "prod"
    assert "hunter2" not in repr(config)


def test_from_instance_and_activate_round_trip(tmp_path: Path, lamin_home: Path) -> None:
    import lamin_flows as ln
    from lamin_flows.registry import instance
    from lamin_flows.tasks.blocks import LaminInstance

    ln.setup.init(storage=tmp_path / "a", name="a")
    block = LaminInstance.from_instance("a")
    assert block.config() == instance.read_config("a")
    ln.setup.init(storage=tmp_path / "b", name="b")  # now "b" is the remembered current instance
    before = sorted(p.name for p in (lamin_home / "instances").iterdir())

    other = LaminInstance(storage_root=str(tmp_path / "c"), name="c")
    config = other.activate()
    assert instance.current().config == config and config.name == "c"
    assert (tmp_path / "c").is_dir()
    assert instance.remembered_name() == "b", "activating a block is not remembered"
    assert sorted(p.name for p in (lamin_home / "instances").iterdir() if p.suffix == ".json") == [
        n for n in before if n.endswith(".json")
    ]
    block.activate()
    assert ln.setup.settings.storage.root == tmp_path / "a"


def test_an_unavailable_instance_refuses_instead_of_falling_back(tmp_path: Path) -> None:
    import lamin_flows as ln
    from lamin_flows.errors import InstanceNotFoundError
    from lamin_flows.registry import instance

    ln.setup.init(storage=tmp_path / "a", name="a")
    instance.make_unavailable("the deployment's instance could not be loaded")
    with pytest.raises(InstanceNotFoundError, match="could not be loaded"):
        ln.File.select().all()
    ln.setup.load("a")
    assert ln.File.select().all() == []
