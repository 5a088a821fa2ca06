"""An instance at schema 0005 upgrades to 0006 (caching columns, file_stat) with its Runs intact."""

from __future__ import annotations

import sqlalchemy as sa

from lamin_flows.registry import instance, migrate


def test_an_instance_from_before_caching_upgrades(ln) -> None:
    @ln.tracked
    def step(x: int) -> int:
        return x

    step(1)
    run = ln.Run.select().one()
    engine = instance.current().engine
    migrate.downgrade(engine, "0005")
    inspector = sa.inspect(engine)
    assert not {"reused_id", "cache_key", "cache"} & {c["name"] for c in inspector.get_columns("run")}
    assert not inspector.has_table("file_stat")
    migrate.forget()

    upgraded = ln.Run.select().one()  # first use upgrades
    assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD == "0008"
    assert upgraded.id == run.id and upgraded.params == {"x": 1} and upgraded.reused_id is None
    calls = []

    @ln.tracked(cache=True)
    def cached(x: int) -> int:
        calls.append(x)
        return x

    assert cached(2) == 2 and cached(2) == 2 and calls == [2]
    assert ln.Run.select(status="cached").one().reused_id is not None
