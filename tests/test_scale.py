"""The pipeline on a real distributed engine with its instance on a real Postgres (make
test-scale; opt-in: needs `pip install .[scale]`): a local Dask cluster of two worker
processes (dask.distributed, started here) runs every step of the tiny graph through
dagster-dask, and the run, its events and the materializations live in a Postgres server that
this test starts from the PyPI package pgserver. The Kubernetes configuration (Helm values and
the instance's dagster.yaml for the k8s run launcher) is loaded and validated against
dagster-k8s' own schemas, and the backbone's GPU request parses as a k8s container config."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.conftest import REPO, write_tiny_catalog

pytestmark = pytest.mark.scale


@pytest.fixture
def postgres(tmp_path):
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    yield server
    server.cleanup()


def test_the_graph_runs_on_a_dask_cluster_with_the_instance_on_postgres(tmp_path, postgres, monkeypatch):
    pytest.importorskip("dagster_dask")
    pytest.importorskip("dagster_postgres")
    from dagster import DagsterInstance, execute_job, reconstructable
    from distributed import Client, LocalCluster

    from assets import definitions, selection

    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    # dagster-postgres speaks psycopg2; pgserver hands out a plain postgresql:// URI on a Unix socket
    url = postgres.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump({
        "storage": {"postgres": {"postgres_url": url}},
        "telemetry": {"enabled": False},
    }))
    env = {"DAGSTER_HOME": str(dagster_home), "PCL_HOME": str(tmp_path / "home"), "PCL_SYNTHETIC_SCALE": "0.3",
           "PCL_TASKS_DIR": str(write_tiny_catalog(tmp_path / "tasks")), "OMP_NUM_THREADS": "1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("PCL_MOVIELENS_PATH", "PCL_TENREC_PATH", "PCL_TASK_ORDER_MOVIELENS", "PCL_TASK_ORDER_TENREC"):
        monkeypatch.delenv(key, raising=False)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client, DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        workers = set(client.scheduler_info()["workers"])
        assert len(workers) == 2
        with execute_job(reconstructable(definitions.distributed_job), instance=instance, run_config={
                "execution": {"config": {"cluster": {"existing": {"address": cluster.scheduler_address}}}}}) as result:
            assert result.success
            run_id = result.run_id
            materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        graph = definitions.build_definitions(definitions.Settings.from_env()).resolve_asset_graph()
        assert materialized == set(selection.pipeline_selection().resolve(graph))
        # every step ran in a worker process of the cluster, and more than one worker did work
        starts = [e for e in instance.all_logs(run_id) if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"]
        pids = {e.dagster_event.pid for e in starts}
        assert len(starts) == len(materialized) and len(pids) >= 2 and os.getpid() not in pids
    # the run is in Postgres, read back by a fresh instance on the same server
    with DagsterInstance.get() as fresh:
        run = fresh.get_run_by_id(run_id)
        assert run is not None and run.is_success
    rows = postgres.psql("SELECT count(*) FROM runs;")
    assert "1" in rows.split()
    summary = tmp_path / "home" / "reports" / "summary.json"
    assert summary.exists()


def test_kubernetes_configuration_validates_against_dagster_k8s():
    pytest.importorskip("dagster_k8s")
    from dagster._config import process_config
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.job import get_user_defined_k8s_config

    from assets.backbone import GPU_TAGS

    folder = REPO / "docs" / "deployment"
    instance = yaml.safe_load((folder / "dagster-k8s.yaml").read_text())
    launcher = instance["run_launcher"]
    assert launcher["module"] == "dagster_k8s" and launcher["class"] == "K8sRunLauncher"
    checked = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, checked.errors
    assert instance["storage"]["postgres"]["postgres_db"]["hostname"]
    values = yaml.safe_load((folder / "helm-values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is True
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["codeServerArgs"] == ["-m", "assets.definitions"]
    assert {e["name"] for e in deployment["env"]} >= {"PCL_HOME", "DAGSTER_HOME"}
    from assets.backbone import backbone_asset
    from pcl_pipeline.catalog import load_catalog

    asset = backbone_asset("movielens", load_catalog(REPO / "tasks", "movielens")[0])
    tags = asset.op.tags  # as Dagster hands them to the executor: JSON strings
    assert json.loads(tags["dagster-k8s/config"]) == GPU_TAGS["dagster-k8s/config"]
    config = get_user_defined_k8s_config(tags)  # dagster-k8s parses the backbone step's tag
    assert config.container_config["resources"]["limits"]["nvidia.com/gpu"] == 1
