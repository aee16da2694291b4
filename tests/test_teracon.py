"""TERACON (study/methods/teracon.py) is a method of the study like any other: it plugs into the
core's one stage, loop, store and evaluation, stores every task's model in its variant, reloads it
to the scores it had, scores earlier tasks with the model of the task learned last (their own
masks and heads), and its masks and knowledge retention behave as the paper defines them."""
from __future__ import annotations

import shutil

import duckdb
import pytest
import torch

from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.recipe import Candidate
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.stages.prompt import train_prompt
from pcl_pipeline.stages.text import embed_task
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.store.files import file_sha256
from pcl_pipeline.study.methods.registry import get_method
from pcl_pipeline.study.methods.teracon import SMAX, MaskedSASRec, TeraconModel, load_teracon
from pcl_pipeline.study.run import run_chain
from pcl_pipeline.text_encoder import RandomTextEncoder
from pcl_pipeline.training.context import TrainContext
from tests.conftest import write_tiny_catalog

CPU = torch.device("cpu")
TERACON = get_method("TERACON")
ONE = Candidate({"backbone_lr": 1e-3})


def _setup(root):
    tasks = load_catalog(write_tiny_catalog(root / "tasks"), "movielens")
    default = ArtifactStore(root / "home").dataset("movielens")
    stages.prepare_tables(duckdb.connect(), default, tasks, None, seed=0, scale=0.3)
    for task in tasks:
        default.save_task_text(embed_task(task, RandomTextEncoder(seed=1), "stand-in"))
    backbone = train_backbone(default, tasks[0], TrainContext(seed=0, device=CPU))
    default.save_backbone(backbone.model, backbone.manifest)
    return tasks, ArtifactStore(root / "home").dataset("movielens", TERACON.variant)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    tasks, store = _setup(tmp_path_factory.mktemp("teracon"))
    run = run_chain(store, tasks, 0, CPU, TERACON, {t.name: [ONE] for t in tasks[1:]})
    return {"tasks": tasks, "store": store, "run": run, "home": store.root.parent}


def _test_inputs(store, task, model):
    return store.task_data(task, model.backbone.cfg.n_items, model.backbone.cfg.max_len).test.inputs()


def test_every_task_is_stored_with_every_earlier_head_and_a_task_embedding_each(chain):
    tasks, store = chain["tasks"], chain["store"]
    for k, task in enumerate(tasks[1:], start=1):
        tensors, manifest = store.load_task_tensors(task.name)
        assert manifest["method"] == "TERACON" and manifest["chain"] == [t.name for t in tasks[:k + 1]]
        assert tensors["task_emb"].shape[0] == k and tensors["relation_w"].shape[-1] == 2 * k - 1
        assert {key.split(".")[1] for key in tensors if key.startswith("earlier.")} == {str(j) for j in range(k - 1)}
        assert manifest["encoder_from"] == (tasks[k - 1].name if k >= 2 else None)
    records = chain["run"]["records"]
    assert [r["name"] for r in records] == [t.name for t in tasks]
    # the forgetting row of the last task re-scores every earlier task, T1 with the current encoder
    assert set(records[-1]["after_learning"]) == {t.name for t in tasks[:-1]}


def test_a_reloaded_task_scores_as_the_stored_model_did_and_earlier_tasks_use_their_own_head(chain):
    tasks, store = chain["tasks"], chain["store"]
    last = load_teracon(store, tasks[-1].name, CPU)
    for k, task in enumerate(tasks[1:], start=1):
        model, manifest = TERACON.load_for_scoring(store, task.name, CPU, current=tasks[-1].name)
        assert manifest["encoder_from"] == tasks[-1].name and model.scoring == k - 1
        inputs = _test_inputs(store, task, model)
        with torch.no_grad():
            scores = model(inputs)
            assert torch.equal(scores, last.scores(k, inputs, SMAX))
        assert scores.shape[1] == manifest["n_targets"] + (1 if task.kind == "item_rec" else 0)
    # T1: the current encoder without a mask, loaded as the plain SASRec the evaluation scores T1 with
    encoder, manifest = TERACON.backbone_for_scoring(store, CPU, current=tasks[-1].name)
    inputs = _test_inputs(store, tasks[-1], last)
    with torch.no_grad():
        assert torch.equal(encoder.full_sort_scores(inputs), last.scores(0, inputs, SMAX))


def test_the_last_record_matches_a_fresh_evaluation_of_the_stored_artifacts(chain):
    from pcl_pipeline.stages.evaluate import evaluate_task
    tasks, store = chain["tasks"], chain["store"]
    again = evaluate_task(store, tasks, CPU, TERACON)
    assert again["metrics"] == chain["run"]["records"][-1]["metrics"]
    assert again["after_learning"] == chain["run"]["records"][-1]["after_learning"]


def test_masks_are_relation_aware_soft_gates(chain):
    tasks, store = chain["tasks"], chain["store"]
    model = load_teracon(store, tasks[-1].name, CPU)
    blocks, d = model.backbone.cfg.blocks, model.backbone.cfg.hidden
    for i in range(len(model.heads)):
        masks = model.masks_of(i, SMAX)
        assert masks.shape == (2 * blocks, d) and bool(((masks >= 0) & (masks <= 1)).all())
    # task 0's mask depends on the other tasks' embeddings (Eq. 12), not on its own alone
    before = model.masks_of(0, SMAX)
    with torch.no_grad():
        model.task_emb[1].mul_(-1)
        model.relation_w[0].fill_(0.5)
    assert not torch.allclose(before, model.masks_of(0, SMAX))


def test_retention_reaches_the_encoder_and_the_earlier_heads_and_updates_the_sampling_ratios(chain):
    tasks, store = chain["tasks"], chain["store"]
    start = TERACON.start(store, tasks, store.load_backbone(CPU)[0], CPU)
    data = store.task_data(tasks[-1], start.backbone.cfg.n_items, start.backbone.cfg.max_len)
    model = TERACON.build(start.backbone, tasks[-1].kind, data.n_targets, tasks[-1].task_params,
                          torch.zeros(len(tasks), 8), None)
    assert isinstance(model, TeraconModel) and isinstance(model.backbone, MaskedSASRec)
    previous = load_teracon(store, tasks[-2].name, CPU)
    assert torch.equal(model.task_emb[:-1], previous.task_emb)  # the earlier embeddings continue
    model.train()
    inputs = data.train.inputs()[:16]
    model(inputs)
    assert model.ratios.tolist() == pytest.approx([0.9] * len(tasks[1:]))
    loss = model.auxiliary_loss(inputs)
    assert loss is not None and loss.item() > 0
    loss.backward()
    assert model.backbone.item_emb.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.earlier.parameters() if p.dim() > 1)
    assert all(0 < r < 1 for r in model.ratios.tolist()) and model.ratios.tolist() != [0.9] * len(tasks[1:])
    model.eval()
    assert model.auxiliary_loss(inputs) is None  # only while training


def test_the_same_seed_trains_the_same_bytes(tmp_path, chain):
    """Trained again in another home (the same tables, texts and backbone): the same bytes."""
    tasks = chain["tasks"]
    shutil.copytree(chain["home"], tmp_path / "home", ignore=shutil.ignore_patterns("variants"))
    store = ArtifactStore(tmp_path / "home").dataset("movielens", TERACON.variant)
    for k in (1, 2):
        trained = train_prompt(store, tasks[:k + 1], TrainContext(seed=0, device=CPU), init_from=None,
                               recipe=TERACON, candidates=[ONE])
        store.save_task_parts(tasks[k].name, trained.model, trained.manifest)
        assert file_sha256(store.task_parts_paths(tasks[k].name).tensors) == \
            file_sha256(chain["store"].task_parts_paths(tasks[k].name).tensors)
