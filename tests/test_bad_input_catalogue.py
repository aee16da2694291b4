"""The bad-input catalogue of docs/formats.md, the cases no reader test covers: repeated rows,
a task the data cannot serve, a NaN loss, damaged or foreign artifacts, a backbone that changed
under a stored task, a full disk while writing, a checkpoint planted in PCL_HOME. Each test shows
what the user sees and that nothing earlier is lost."""
from __future__ import annotations

import errno
import pickle

import duckdb
import pytest
import torch

from pcl_pipeline.errors import InputError
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.stages.prompt import train_prompt
from pcl_pipeline.store import artifacts as artifacts_module
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.store.artifacts import ArtifactError, ArtifactPaths, load_artifact, save_artifact
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.loop import LoopConfig, Objective, fit
from tests.conftest import trained_tiny_store
from tests.test_formats import ML1M_MOVIES, ML1M_USERS, ml1m, read_error

CPU = torch.device("cpu")


# --- repeated rows ----------------------------------------------------------------------------------


def test_an_exact_repeated_rating_is_dropped_and_counted(tmp_path):
    from pcl_pipeline.formats import read_source

    con = duckdb.connect()
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n1::10::5::978300760\n1::20::3::978302109\n")
    source = read_source(con, "movielens", tmp_path)
    assert source.tolerated == {"ratings.dat": {"exact repeated rows dropped": 1}}
    assert con.execute("SELECT line, item_id FROM raw_ratings").fetchall() == [(1, 10), (3, 20)]


def test_a_repeated_rating_with_another_value_is_an_error(tmp_path):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n1::20::3::978302109\n1::10::2::978300760\n")
    err = read_error(duckdb.connect(), "movielens", tmp_path)
    assert (err.line, err.field, err.value) == (3, "rating", "2")
    assert "repeats the (user_id, item_id, timestamp) of line 1 with another rating ('5' there)" in err.problem


def test_a_user_listed_twice_with_another_profile_is_an_error(tmp_path):
    ml1m(tmp_path, users_dat=ML1M_USERS + "1::M::25::3::10001\n")
    err = read_error(duckdb.connect(), "movielens", tmp_path)
    assert err.line == 3 and err.field == "gender" and "of line 1" in err.problem


def test_a_timestamp_that_is_not_an_integer(tmp_path):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n1::20::3::9783021.5\n", movies_dat=ML1M_MOVIES)
    err = read_error(duckdb.connect(), "movielens", tmp_path)
    assert (err.line, err.field, err.value) == (2, "timestamp", "9783021.5") and err.problem == "not an integer"


# --- the catalog against the data -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny movielens catalog's tables, texts and backbone, and its T2 trained and stored."""
    root = tmp_path_factory.mktemp("catalogue")
    store, tasks = trained_tiny_store(root)
    trained = train_prompt(store, tasks[:2], TrainContext(seed=0, device=CPU), init_from=None)
    store.save_task_parts(tasks[1].name, trained.model, trained.manifest)
    return {"store": store, "tasks": tasks, "root": root}


def test_a_label_column_missing_from_the_data_makes_the_task_not_applicable(tiny):
    store, tasks = tiny["store"], tiny["tasks"]

    def relabel(task, **change):
        return task.model_copy(update={"label": task.label.model_copy(update=change)})

    assert stages.not_applicable(store, relabel(tasks[3], column="income")) == "column 'income' is not in table 'users'"
    assert stages.not_applicable(store, relabel(tasks[3], source="profiles")).startswith(
        "its source table 'profiles' is not in this data (tables: ")
    t1 = relabel(tasks[0], source="profiles")
    with pytest.raises(InputError, match="T1_next_item .* cannot be built from this data: its source table 'profiles'"):
        stages.check_applicability(duckdb.connect(), store, [t1] + tasks[1:])
    assert stages.applicable_chain(store, tasks) == tasks


# --- training and artifacts --------------------------------------------------------------------------------


def test_a_nan_loss_stops_training_naming_the_epoch():
    weight = torch.nn.Parameter(torch.ones(1))
    cfg = LoopConfig(epochs=3, patience=2, lr=0.1, weight_decay=0.0)
    with pytest.raises(FloatingPointError, match="training loss became nan at epoch 1"):
        fit(Objective([weight], lambda batch: (weight.sum() * float("nan"), 1), lambda g: [0], lambda: 0.0,
                      lambda: {"w": weight.detach()}, lambda state: None), cfg, TrainContext(seed=0, fingerprint="x"))


def test_a_nan_loss_fails_the_task_training_and_keeps_its_stored_artifact(tiny, monkeypatch):
    """Row 45 at the level of a task: the training that would replace T2's artifact hits a NaN
    loss, fails naming the epoch, and the artifact stored before is untouched and still loads."""
    import pcl_pipeline.training.prompt_tuning as tuning

    store, tasks = tiny["store"], tiny["tasks"]
    paths = store.task_parts_paths(tasks[1].name)
    before = (paths.tensors.read_bytes(), paths.manifest.read_bytes())
    real = tuning.task_loss
    monkeypatch.setattr(tuning, "task_loss", lambda *a, **k: (lambda x, y: real(*a, **k)(x, y) * float("nan")))
    with pytest.raises(FloatingPointError, match="training loss became nan at epoch 1"):
        train_prompt(store, tasks[:2], TrainContext(seed=0, device=CPU), init_from=None)
    assert (paths.tensors.read_bytes(), paths.manifest.read_bytes()) == before
    store.load_task_model(tasks[1].name, CPU)


def test_a_truncated_artifact_is_refused_naming_the_file(tmp_path):
    paths = ArtifactPaths.at(tmp_path, "a")
    save_artifact(paths, {"w": torch.ones(64, 64)}, {"task": "T2"})
    paths.tensors.write_bytes(paths.tensors.read_bytes()[:100])
    with pytest.raises(ArtifactError, match=f"{paths.tensors}.*does not match the manifest"):
        load_artifact(paths)


def test_an_artifact_trained_on_another_backbone_is_refused(tiny):
    store, tasks = tiny["store"], tiny["tasks"]
    other = ArtifactStore(tiny["root"] / "other").dataset("movielens")
    other.root.mkdir(parents=True)
    for name in ("raw", "task_data", "task_text"):
        (other.root / name).symlink_to(store.root / name)
    for name in ("interactions.parquet", "sequences.parquet"):
        (other.root / name).symlink_to(store.root / name)
    retrained = train_backbone(other, tasks[0], TrainContext(seed=1, device=CPU))  # another seed: another backbone
    other.save_backbone(retrained.model, retrained.manifest)
    stored = store.task_parts_paths(tasks[1].name)
    target = other.task_parts_paths(tasks[1].name)
    target.tensors.parent.mkdir(parents=True)
    target.tensors.write_bytes(stored.tensors.read_bytes())
    target.manifest.write_bytes(stored.manifest.read_bytes())
    with pytest.raises(ArtifactError, match=r"trained on backbone .*, but the stored backbone is .*re-materialize "
                                            r"this task's prompt asset"):
        other.load_task_model(tasks[1].name, CPU)


@pytest.mark.parametrize("failing", ["tensors", "manifest"])
def test_a_full_disk_while_writing_an_artifact_keeps_the_earlier_one(tmp_path, monkeypatch, failing):
    paths = ArtifactPaths.at(tmp_path, "a")
    before = save_artifact(paths, {"w": torch.zeros(3)}, {"task": "T2"})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "tensors":
        monkeypatch.setattr(artifacts_module, "save_file", full)
    else:
        monkeypatch.setattr(artifacts_module.Path, "write_text", full)
    with pytest.raises(OSError, match="No space left on device"):
        save_artifact(paths, {"w": torch.ones(3)}, {"task": "T2"})
    monkeypatch.undo()
    tensors, manifest = load_artifact(paths)
    assert torch.equal(tensors["w"], torch.zeros(3)) and manifest["sha256"] == before["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.safetensors"]  # no temporary left


class _Planted:
    def __reduce__(self):  # what a malicious pickle does: run code when loaded
        return (open, ("/tmp/pcl-planted-ran", "w"))


def test_a_checkpoint_planted_in_pcl_home_is_never_executed(tiny, tmp_path):
    import os

    store, tasks = tiny["store"], tiny["tasks"]
    marker = "/tmp/pcl-planted-ran"
    if os.path.exists(marker):
        os.unlink(marker)
    checkpoint = store.checkpoint(tasks[2].name)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    with open(checkpoint, "wb") as f:
        pickle.dump({"fingerprint": "x", "payload": _Planted()}, f)
    trained = train_prompt(store, tasks[:3], TrainContext(seed=0, device=CPU), init_from=None)
    assert not os.path.exists(marker), "the planted checkpoint ran code"
    assert trained.manifest["epochs_run"] >= 1
    rejected = checkpoint.with_name(checkpoint.name + ".rejected")
    assert rejected.exists() and not checkpoint.exists()  # moved aside, nothing lost, nothing resumed


def test_a_bad_setting_names_the_variable_value_and_expected_form():
    from pcl_pipeline.errors import SettingsError
    from pcl_pipeline.settings import Settings

    with pytest.raises(SettingsError, match=r"PCL_SEED: .*got 'abc'; expected an integer >= 0"):
        Settings.from_env({"PCL_SEED": "abc"})
    with pytest.raises(SettingsError, match=r"PCL_STUDY_DATASETS: .*expected dataset names among tenrec, movielens"):
        Settings.from_env({"PCL_STUDY_DATASETS": "netflix"})
    with pytest.raises(SettingsError, match=r"PCL_DEVICE: .*got 'gpu'"):
        Settings.from_env({"PCL_DEVICE": "gpu"})
    with pytest.raises(SettingsError, match=r"PCL_ACCELERATION: .*got 'fast'"):
        Settings.from_env({"PCL_ACCELERATION": "fast"})


def test_a_bad_setting_stops_the_cli_with_exit_2_naming_it(monkeypatch, capsys):
    from assets.cli import main

    monkeypatch.setenv("PCL_SEED", "abc")
    assert main(["run"]) == 2
    assert "PCL_SEED" in capsys.readouterr().err


def test_the_catalogue_in_docs_lists_every_case_each_backed_by_an_existing_test():
    import re

    from tests.conftest import REPO

    text = (REPO / "docs" / "formats.md").read_text(encoding="utf-8")
    section = text.split("### Bad-input catalogue", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    numbers = [int(re.match(r"\| (\d+) \|", row).group(1)) for row in rows]
    assert numbers == list(range(1, len(rows) + 1)) and len(rows) >= 51  # every row, numbered without gaps
    for row in rows:
        refs = re.findall(r"`(?:(test_\w+\.py)::)?(test_\w+)`", row)  # a bare name: the file named before it
        assert refs and refs[0][0], row
        current = None
        for file, name in refs:
            current = file or current
            source = (REPO / "tests" / current).read_text(encoding="utf-8")
            assert f"def {name}(" in source, f"{current}::{name} (docs/formats.md row {row[:40]})"
