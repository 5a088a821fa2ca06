"""Migration 0005: each link table is indexed by (the column queries select by, the other one)."""

from __future__ import annotations

import sqlalchemy as sa

from lamin_flows.registry import instance, migrate


def _indexes(engine, table: str) -> dict[str, list[str]]:
    return {i["name"]: i["column_names"] for i in sa.inspect(engine).get_indexes(table)}


def test_link_tables_get_two_column_indexes_and_queries_still_answer(ln, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("a")
    file = ln.File(path, key="a.txt").save()
    tag, project = ln.Tag(name="t").save(), ln.Project(name="p").save()
    file.tags.add(tag)
    file.projects.add(project)
    engine = instance.current().engine
    migrate.downgrade(engine, "0004")
    assert _indexes(engine, "file_tag") == {"ix_file_tag_tag_id": ["tag_id"]}
    migrate.forget()

    assert [f.id for f in ln.File.select(tags=tag)] == [file.id]  # first use upgrades
    assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
    assert _indexes(engine, "file_tag") == {"ix_file_tag_tag_id_file_id": ["tag_id", "file_id"]}
    assert _indexes(engine, "file_project") == {"ix_file_project_project_id_file_id": ["project_id", "file_id"]}
    assert _indexes(engine, "run_input") == {"ix_run_input_file_id_run_id": ["file_id", "run_id"]}
    assert [f.id for f in ln.File.select(projects=project)] == [file.id]
    assert _indexes(engine, "file")["ix_file_latest_id"] == ["id"]


def test_latest_files_by_tag_read_the_index_of_latest_versions(ln_sqlite):
    """After a bulk save SQLite has statistics and looks linked ids up among latest versions only."""
    ln = ln_sqlite
    tag = ln.Tag(name="t").save()
    storage_id = instance.current().storage_id
    files = []
    for i in range(1000):  # records without data, as the query benchmark makes them
        files.append(
            ln.File(key=f"k/{i}.txt", storage_id=storage_id, suffix=".txt", size=1, hash=f"h{i:021d}", hash_type="md5")
        )
        if i < 10:
            files[-1].tags.add(tag)
    ln.save(files)
    engine = instance.current().engine
    sql = str(ln.File.select(tags=tag)._statement().compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = " ".join(str(row) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "ix_file_latest_id" in plan, plan
    assert len(ln.File.select(tags=tag)) == 10
