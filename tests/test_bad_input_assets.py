"""Bad input through the assets: a clear error, and the earlier materialization stays intact."""
from __future__ import annotations

from dagster import DagsterInstance, materialize

from assets.definitions import build_definitions
from pcl_pipeline.settings import Settings


def test_bad_real_data_fails_clearly_and_keeps_earlier_tables(tiny_env, monkeypatch):
    selection = ["movielens/raw_logs"]
    defs = build_definitions(Settings.from_env())
    with DagsterInstance.ephemeral() as instance:
        assert materialize(list(defs.assets), resources=defs.resources, instance=instance, selection=selection).success
        raw = tiny_env["home"] / "movielens" / "raw" / "ratings.parquet"
        before = raw.read_bytes()

        broken = tiny_env["root"] / "broken_ml"
        broken.mkdir()
        (broken / "ratings.dat").write_text("1::10::5::978300760\n1::abc::3::978300761\n", encoding="latin-1")
        (broken / "users.dat").write_text("1::F::1::10::48067\n", encoding="latin-1")
        (broken / "movies.dat").write_text("10::Toy Story (1995)::Animation\n", encoding="latin-1")
        monkeypatch.setenv("PCL_MOVIELENS_PATH", str(broken))
        defs = build_definitions(Settings.from_env())
        result = materialize(list(defs.assets), resources=defs.resources, instance=instance, selection=selection,
                             raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        error = failure.step_failure_data.error
        while error.cause is not None:  # the user's InputError under Dagster's wrapper
            error = error.cause
        message = error.message
        assert "ratings.dat:2" in message and "item_id" in message and "'abc'" in message
        assert raw.read_bytes() == before
