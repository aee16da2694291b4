"""The study's methods are peers of PCL: one stage, one loop, one store, one evaluation. Each
method trains exactly the parts it names, its artifacts live in its own store variant and reload
to the metrics they had at training time, and per-task artifacts forget nothing."""
from __future__ import annotations

import duckdb
import pytest
import torch

from pcl_pipeline.catalog import TaskParams, load_catalog
from pcl_pipeline.evaluation.protocol import evaluate_classification, evaluate_ranking
from pcl_pipeline import recipe as core_recipe
from pcl_pipeline.study.methods.base import Method
from pcl_pipeline.study.methods.registry import METHODS, get_method
from pcl_pipeline.study.methods.search import SEARCH_SPACES, candidates_of
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.stages.evaluate import evaluate_task
from pcl_pipeline.stages.prompt import train_prompt
from pcl_pipeline.stages.report import build_report
from pcl_pipeline.stages.text import embed_task
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.store.files import file_sha256
from pcl_pipeline.text_encoder import RandomTextEncoder, task_text
from pcl_pipeline.training.context import TrainContext
from tests.conftest import write_tiny_catalog

CPU = torch.device("cpu")
PER_TASK = ["PCL", "PCL-no-context", "PCL-no-inherit", "PCL-random-text", "Adapter", "FineAll", "SinMo"]
NAMES = PER_TASK + ["SeqFT"]


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _metrics_in_memory(model, store, task):
    data = store.task_data(task, model.backbone.cfg.n_items, model.backbone.cfg.max_len)
    if task.kind == "item_rec":
        return evaluate_ranking(model, data.test, data.train.targets, data.to_target, data.n_targets, CPU)["metrics"]
    return evaluate_classification(model, data.test, data.train.targets, data.n_targets, CPU)["metrics"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Data, texts and backbone once; the catalog's default PCL T2; then every method on T2..T4,
    each in its own variant, each task evaluated right after it is stored."""
    root = tmp_path_factory.mktemp("methods")
    tasks = load_catalog(write_tiny_catalog(root / "tasks"), "movielens")
    home = ArtifactStore(root / "home")
    default = home.dataset("movielens")
    stages.prepare_tables(duckdb.connect(), default, tasks, None, seed=0, scale=0.3)
    for task in tasks:
        # the stored texts stand in for MiniLM's: another encoder than the random-text ablation's
        default.save_task_text(embed_task(task, RandomTextEncoder(seed=1), "stand-in"))
    backbone = train_backbone(default, tasks[0], TrainContext(seed=0, device=CPU))
    default.save_backbone(backbone.model, backbone.manifest)
    trained = train_prompt(default, tasks[:2], TrainContext(seed=0, device=CPU), init_from=None)
    default.save_task_parts(tasks[1].name, trained.model, trained.manifest)
    default.save_eval(tasks[1].name, evaluate_task(default, tasks[:2], CPU))
    default_before = _snapshot(default.variant_dir)
    backbone_before = _snapshot(default.root / "backbone")

    built = []  # every model as built, before training: (prompt weight at init)
    original_build = core_recipe.build_task_model

    def spy(*args, **kwargs):
        model = original_build(*args, **kwargs)
        built.append(None if model.prompt is None else model.prompt.weight.detach().clone())
        return model

    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core_recipe, "build_task_model", spy)
        for name in NAMES:
            method = get_method(name)
            store = home.dataset("movielens", method.variant)
            records, per_task = [evaluate_task(store, tasks[:1], CPU)], {}
            for k in range(1, len(tasks)):
                built.clear()
                result = train_prompt(store, tasks[:k + 1], TrainContext(seed=0, device=CPU), init_from=None,
                                      recipe=method)
                model = result.model
                trainable = {id(p) for p in model.trainable_parameters()}
                per_task[tasks[k].name] = {
                    "init_prompt": built[0],
                    "trainable": {n for n, p in model.named_parameters() if id(p) in trainable},
                    "requires_grad": {n for n, p in model.named_parameters() if p.requires_grad},
                    "all": {n for n, _ in model.named_parameters()},
                    "params": method.task_params(tasks[k].task_params),
                    "in_memory": _metrics_in_memory(model, store, tasks[k]),
                    "manifest": store.save_task_parts(tasks[k].name, model, result.manifest),
                }
                records.append(evaluate_task(store, tasks[:k + 1], CPU, method))
                store.save_eval(tasks[k].name, records[-1])
            runs[name] = {"store": store, "records": records, "tasks": per_task}
    mtl = get_method("MTL")
    store = home.dataset("movielens", mtl.variant)
    joint = mtl.train_all(store, tasks, TrainContext(seed=0, device=CPU))
    per_task = {t.manifest["task"]: {"model": t.model, "in_memory": _metrics_in_memory(t.model, store, task),
                                     "manifest": store.save_task_parts(task.name, t.model, t.manifest)}
                for t, task in zip(joint, tasks[1:])}
    records = [evaluate_task(store, tasks[:k + 1], CPU, mtl) for k in range(len(tasks))]
    runs["MTL"] = {"store": store, "records": records, "tasks": per_task}
    return {"tasks": tasks, "home": home, "default": default, "runs": runs, "default_before": default_before,
            "backbone_before": backbone_before}


def test_registry_names_and_error():
    assert set(NAMES) <= set(METHODS)
    with pytest.raises(ValueError) as err:
        get_method("NoSuchMethod")
    for name in NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_trainable_parameters_are_what_the_method_says(study, name):
    method = get_method(name)
    for task, info in study["runs"][name]["tasks"].items():
        assert info["trainable"] == info["requires_grad"], task
        prefixes = {n.split(".")[0] for n in info["trainable"]}
        assert prefixes == set(method.trains(info["params"])), (task, prefixes)
        # whatever trains, trains whole: every parameter under a trained prefix is trainable
        assert {n for n in info["all"] if n.split(".")[0] in prefixes} == info["trainable"]
        stored = set(info["manifest"]["tensors"]) - {"texts"}
        assert ({k.split(".")[0] for k in stored} == prefixes), (task, stored)
        assert info["manifest"]["method"] == name


def test_each_method_trains_its_parts():
    params = TaskParams()
    assert METHODS["PCL"].trains(params) == ("prompt", "context", "adapter")
    assert METHODS["PCL-no-context"].trains(METHODS["PCL-no-context"].task_params(params)) == ("prompt", "adapter")
    assert METHODS["Adapter"].trains(params) == ("adapter",)
    assert METHODS["FineAll"].trains(params) == ("adapter", "backbone")
    assert METHODS["SinMo"].trains(params) == ("adapter", "backbone")
    assert METHODS["SeqFT"].trains(params) == ("adapter", "backbone")
    assert METHODS["MTL"].trains(params) == ("adapter", "backbone")


def test_prompt_inheritance(study):
    t2, t3 = study["tasks"][1].name, study["tasks"][2].name
    for name in ("PCL", "PCL-no-context", "PCL-random-text", "PCL-no-inherit"):
        run = study["runs"][name]
        tensors, manifest = run["store"].load_task_tensors(t2)
        inherited = torch.equal(run["tasks"][t3]["init_prompt"], tensors["prompt.weight"])
        assert inherited == (name != "PCL-no-inherit"), name
        expected_from = None if name == "PCL-no-inherit" else t2
        assert run["tasks"][t3]["manifest"]["inherited_prompt_from"] == expected_from


def test_random_text_method_uses_the_random_encoder(study):
    tasks = study["tasks"]
    t3 = tasks[2].name
    random_texts = torch.from_numpy(RandomTextEncoder().encode([task_text(t) for t in tasks[:3]]))
    stored_texts, _ = study["default"].load_texts(tasks[:3])
    ablation, _ = study["runs"]["PCL-random-text"]["store"].load_task_tensors(t3)
    pcl, _ = study["runs"]["PCL"]["store"].load_task_tensors(t3)
    assert torch.equal(ablation["texts"], random_texts)
    assert torch.equal(pcl["texts"], stored_texts) and not torch.equal(pcl["texts"], random_texts)


@pytest.mark.parametrize("name", PER_TASK)
def test_artifacts_reload_to_the_training_time_metrics_and_forget_nothing(study, name):
    run = study["runs"][name]
    tasks = study["tasks"]
    for k in range(1, len(tasks)):
        record = run["records"][k]
        assert record["metrics"] == run["tasks"][tasks[k].name]["in_memory"], (name, tasks[k].name)
        assert record["artifact_sha256"] == run["tasks"][tasks[k].name]["manifest"]["sha256"]
        model, manifest = run["store"].load_task_model(tasks[k].name, CPU)
        assert manifest["method"] == name
    report = build_report(tasks, run["records"], "embedded", run["store"].variant)
    assert report["forgetting"]["max_abs_change"] == 0.0
    assert run["store"].load_eval(tasks[-1].name)["after_learning"][tasks[1].name]["metrics"] == \
        run["records"][1]["metrics"]


def test_backbone_methods_store_their_own_backbone(study):
    pretrained, _ = study["default"].load_backbone(CPU)
    t2 = study["tasks"][1].name
    fine, _ = study["runs"]["FineAll"]["store"].load_task_tensors(t2)
    scratch, _ = study["runs"]["SinMo"]["store"].load_task_tensors(t2)
    for key, value in pretrained.state_dict().items():
        assert fine[f"backbone.{key}"].shape == value.shape == scratch[f"backbone.{key}"].shape
    assert not torch.equal(fine["backbone.blocks.0.ffn.0.weight"], pretrained.state_dict()["blocks.0.ffn.0.weight"])
    # SinMo does not start from the pretrained backbone: it is far from it, FineAll close to it
    gap = {n: (t["backbone.item_emb.weight"] - pretrained.item_emb.weight).abs().mean().item()
           for n, t in (("fine", fine), ("scratch", scratch))}
    assert gap["scratch"] > gap["fine"]


def test_the_catalog_default_and_the_backbone_are_untouched(study):
    default = study["default"]
    assert _snapshot(default.variant_dir) == study["default_before"]
    assert _snapshot(default.root / "backbone") == study["backbone_before"]
    variants = {p.name for p in (default.root / "variants").iterdir()}
    assert variants == {"default"} | {get_method(n).variant for n in NAMES + ["MTL"]}


def test_a_baseline_refuses_the_default_variant(study):
    with pytest.raises(ValueError, match="method-Adapter"):
        train_prompt(study["default"], study["tasks"][:2], TrainContext(seed=0, device=CPU), init_from=None,
                     recipe=get_method("Adapter"))


def test_seqft_carries_one_encoder_and_forgets(study):
    run = study["runs"]["SeqFT"]
    tasks = study["tasks"]
    for k in range(1, len(tasks)):  # at its own eval, each task is scored as it was trained
        assert run["records"][k]["metrics"] == run["tasks"][tasks[k].name]["in_memory"], tasks[k].name
    manifests = [run["tasks"][t.name]["manifest"] for t in tasks[1:]]
    assert [m["encoder_from"] for m in manifests] == [None, tasks[1].name, tasks[2].name]
    report = build_report(tasks, run["records"], "embedded", run["store"].variant)
    assert report["forgetting"]["max_abs_change"] > 0.0
    # T1 re-measured with the current encoder: the pretrained backbone's score before, another after
    assert report["forgetting"]["matrix"][3][0] != report["forgetting"]["matrix"][0][0]
    # T2's head is now scored with the encoder T4 left (the current one), not its own
    model, manifest = get_method("SeqFT").load_for_scoring(run["store"], tasks[1].name, CPU, current=tasks[-1].name)
    last, _ = run["store"].load_task_tensors(tasks[-1].name)
    own, _ = run["store"].load_task_tensors(tasks[1].name)
    assert manifest["encoder_from"] == tasks[-1].name
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, last[f"backbone.{key}"])
    assert not torch.equal(model.backbone.state_dict()["blocks.0.ffn.0.weight"], own["backbone.blocks.0.ffn.0.weight"])
    assert torch.equal(model.state_dict()["adapter.transform.weight"], own["adapter.transform.weight"])


def test_a_record_scores_the_chain_it_was_made_for_not_the_newest_artifact_in_the_store(study):
    """SeqFT with T2..T4 stored (as when a study step runs again over an earlier run's artifacts):
    T1's and T2's records scored for the chains T1 and T1..T2 equal those made while nothing after
    them was stored: the encoder comes from the chain, not from the variant's newest artifact."""
    from pcl_pipeline.stages.evaluate import evaluate_task

    name = "SeqFT"
    run, tasks = study["runs"][name], study["tasks"]
    for k in (0, 1):
        again = evaluate_task(run["store"], tasks[:k + 1], CPU, get_method(name))
        assert again["metrics"] == run["records"][k]["metrics"], (name, tasks[k].name)
        assert again["after_learning"] == run["records"][k]["after_learning"], (name, tasks[k].name)


def test_mtl_trains_one_backbone_jointly_selects_per_task_and_reloads(study):
    """MTL: one backbone trained jointly on every task, fine-tuned away from the pretrained one
    (which stays untouched); each task keeps its own best (backbone rate, epoch) on its own
    validation split, so its artifact holds the shared backbone as it was at that epoch and its
    own adapter; reloads give the training-time metrics, the heads' forgetting columns do not
    change, and T1 is re-measured with the jointly trained encoder."""
    run, tasks = study["runs"]["MTL"], study["tasks"]
    models = [run["tasks"][t.name]["model"] for t in tasks[1:]]
    assert all(m.train_backbone for m in models) and len({id(m.backbone) for m in models}) == len(models)
    pretrained, _ = study["default"].load_backbone(CPU)
    stored = [run["store"].load_task_tensors(t.name)[0] for t in tasks[1:]]
    manifests = [run["tasks"][t.name]["manifest"] for t in tasks[1:]]
    weight = "backbone.blocks.0.ffn.0.weight"
    assert any(not torch.equal(s[weight], pretrained.state_dict()["blocks.0.ffn.0.weight"]) for s in stored)
    for (t, s, m), (_, s2, m2) in zip(zip(tasks[1:], stored, manifests), zip(tasks[2:], stored[1:], manifests[1:])):
        same_point = (m["candidate"], m["best_epoch"]) == (m2["candidate"], m2["best_epoch"])
        assert torch.equal(s[weight], s2[weight]) == same_point, t.name  # the backbone at the chosen point
    for t, s, manifest in zip(tasks[1:], stored, manifests):
        assert {k.split(".")[0] for k in s} == {"adapter", "backbone", "texts"}, t.name
        selection = manifest["candidate_selection"]
        assert set(selection) == {f"backbone_lr={lr:g}" for lr in SEARCH_SPACES["MTL"]["backbone_lr"]}
        assert selection[f"backbone_lr={manifest['candidate']['backbone_lr']:g}"] == max(selection.values())
        assert manifest[f"best_valid_{manifest['selected_on']}"] == max(selection.values())
        assert manifest["selected_on"] != "joint_relative_gain" and manifest["trained_with"] == [x.name for x in tasks[1:]]
    for k in range(1, len(tasks)):
        assert run["records"][k]["metrics"] == run["tasks"][tasks[k].name]["in_memory"], tasks[k].name
    # the heads' columns of the forgetting matrix do not change; T1 is scored with the pretrained
    # backbone before any task (as PCL scores it) and with the jointly trained one after
    matrix = build_report(tasks, run["records"], "embedded", run["store"].variant)["forgetting"]["matrix"]
    assert all(matrix[i][j] == matrix[j][j] for j in range(1, len(tasks)) for i in range(j, len(tasks)))
    assert run["records"][0]["metrics"] == study["runs"]["PCL"]["records"][0]["metrics"]
    assert run["records"][1]["after_learning"][tasks[0].name]["metrics"] != run["records"][0]["metrics"]
    assert _snapshot(study["default"].root / "backbone") == study["backbone_before"]


def test_a_method_defined_outside_the_core_plugs_in(study):
    """A new method is one object (here defined in this test, as a study module would): trained
    into its own variant, stored, reloaded and scored through the core (stages, store,
    evaluation), which knows no method by name."""
    short = Method("PCL-short-prompt", "PCL with a 2-position prompt", overrides={"prompt_len": 2})
    store = study["home"].dataset("movielens", short.variant)
    tasks = study["tasks"]
    trained = train_prompt(store, tasks[:2], TrainContext(seed=0, device=CPU), init_from=None, recipe=short)
    manifest = store.save_task_parts(tasks[1].name, trained.model, trained.manifest)
    assert tuple(trained.model.prompt.weight.shape)[0] == 2 and manifest["method"] == short.name
    assert manifest["config_hash"] != study["runs"]["PCL"]["tasks"][tasks[1].name]["manifest"]["config_hash"]
    reloaded, _ = store.load_task_model(tasks[1].name, CPU)
    assert tuple(reloaded.prompt.weight.shape)[0] == 2
    record = evaluate_task(store, tasks[:2], CPU, short)
    assert record["metrics"] == _metrics_in_memory(trained.model, store, tasks[1])


def test_every_method_searches_a_space_of_the_same_size():
    """Equal tuning: one file declares every method's knobs, each method gets as many candidates."""
    assert set(SEARCH_SPACES) == set(METHODS)
    sizes = {name: len(candidates_of(name)) for name in METHODS}
    assert len(set(sizes.values())) == 1 and min(sizes.values()) >= 2, sizes
    params = TaskParams(lr=2e-3)
    for candidate in candidates_of("PCL"):  # the frozen-backbone methods' knob scales the parts' lr
        assert candidate.apply(params).lr == pytest.approx(2e-3 * candidate.knobs["lr_factor"])
    assert all(c.apply(params) == params for c in candidates_of("FineAll"))  # the backbone rate is apart


def _scripted_joint_run(study, monkeypatch, needed=None):
    """tune_jointly on two tasks whose validation scores are scripted: task 0 (patience 2)
    improves once (epoch 1), task 1 (patience 4) through epoch 6. Returns the fit, the bests, how
    often each task was validated and which task each drawn epoch of batches belonged to."""
    import copy

    from pcl_pipeline.training import multitask
    from pcl_pipeline.training.loop import seed_everything

    tasks, store = study["tasks"], study["default"]
    backbone, _ = store.load_backbone(CPU)
    shared = copy.deepcopy(backbone)
    datas = [store.task_data(t, shared.cfg.n_items, shared.cfg.max_len) for t in tasks[1:3]]
    params = [TaskParams(epochs=30, patience=2), TaskParams(epochs=30, patience=4)]
    mtl = get_method("MTL")
    seed_everything(0)
    models = [mtl.build(shared, t.kind, d.n_targets, p, torch.zeros(3, 8), None, to_backbone=d.to_backbone)
              for t, d, p in zip(tasks[1:3], datas, params)]
    scripted = {0: [0.1, 0.2] + [0.0] * 30, 1: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7] + [0.0] * 30}
    asked, drawn = {0: 0, 1: 0}, []

    def score(model, data, split, metric, device, select_on="log_loss"):
        i = 0 if data is datas[0] else 1
        asked[i] += 1
        return scripted[i][asked[i] - 1]

    real_batches = multitask.train_batches

    def batches(split, *args):
        drawn.append(0 if split is datas[0].train else 1)
        return real_batches(split, *args)

    monkeypatch.setattr(multitask, "validation_score", score)
    monkeypatch.setattr(multitask, "train_batches", batches)
    fit, bests = multitask.tune_jointly(models, datas, params, ["ndcg@10", "ndcg@10"], 1e-3,
                                        TrainContext(seed=0, device=CPU), needed=needed)
    return fit, bests, asked, drawn


def test_mtl_each_task_stops_on_its_own_patience_and_leaves_the_joint_batches(study, monkeypatch):
    """A task whose validation score stopped improving for its own patience leaves the joint
    objective (no more validation, no more batches) while the others go on; each keeps its best."""
    fit, bests, asked, drawn = _scripted_joint_run(study, monkeypatch)
    assert [b.epoch for b in bests] == [1, 6] and [b.score for b in bests] == [0.2, 0.7]
    assert asked[0] == 1 + 3  # initial, epochs 1-3 (two without improvement: its patience), then it left
    assert fit.epochs_run == 6 + 4  # task 1's best epoch + its patience
    assert drawn.count(0) == 3 and drawn[-7:] == [1] * 7  # task 0 left the joint batches after epoch 3


def test_mtl_run_ends_when_the_tasks_it_is_kept_for_have_stopped_with_their_full_run_bests(study, monkeypatch):
    """A joint run kept only for task 0 (a reported seed whose task 1 chose another candidate)
    ends when task 0 leaves, and task 0's best is the full run's, tensor for tensor."""
    _, full_bests, _, _ = _scripted_joint_run(study, monkeypatch)
    fit, bests, asked, _ = _scripted_joint_run(study, monkeypatch, needed=[True, False])
    assert fit.epochs_run == 3 and fit.stop_reason == "finished"  # task 0's best epoch 1 + its patience 2
    assert bests[0].epoch == full_bests[0].epoch == 1 and bests[0].score == full_bests[0].score
    assert bests[0].state.keys() == full_bests[0].state.keys()
    assert all(torch.equal(bests[0].state[k], full_bests[0].state[k]) for k in bests[0].state)
    assert bests[1].epoch == 3  # task 1 was cut short: its best is not kept by the caller
    with pytest.raises(ValueError, match="needed has 1 flags for 2 tasks"):
        _scripted_joint_run(study, monkeypatch, needed=[True])


def _without_timing(manifest: dict) -> dict:
    """A task manifest without what the clock decides (wall time, throughput, epoch seconds) and
    without what save_task_parts adds (versions, tensor shapes, hash)."""
    drop = {"wall_seconds", "reused_fit_seconds", "throughput_seq_per_s", "versions", "tensors", "sha256"}
    out = {k: v for k, v in manifest.items() if k not in drop}
    out["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in manifest["history"]]
    return out


@pytest.mark.parametrize("first, second", [("PCL", "PCL-no-inherit"), ("FineAll", "SeqFT")])
def test_a_fit_another_method_ran_is_read_back_and_equals_training_it(study, tmp_path, first, second):
    """With a FitMemo (the study's run_chain sets one), `second`'s first task after T1, the same
    model trained the same way as `first`'s, is read back from the memo: the artifact tensors and
    the manifest equal `second` trained fresh (the fixture), except the clock; its cost is still
    reported (wall_seconds counts the fit's seconds). Its next task starts elsewhere (no inherited
    prompt; another encoder) and trains."""
    from pcl_pipeline.training.memo import FitMemo

    tasks, runs = study["tasks"], study["runs"]
    ctx = TrainContext(seed=0, device=CPU, memo=FitMemo(tmp_path / "memo", ("test",)))
    trained = train_prompt(runs[first]["store"], tasks[:2], ctx, init_from=None, recipe=get_method(first))
    assert "reused_fit_seconds" not in trained.manifest  # trained, and stored in the memo
    reused = train_prompt(runs[second]["store"], tasks[:2], ctx, init_from=None, recipe=get_method(second))
    assert reused.manifest["reused_fit_seconds"] > 0
    assert reused.manifest["wall_seconds"] >= reused.manifest["reused_fit_seconds"]
    fresh_tensors, fresh_manifest = runs[second]["store"].load_task_tensors(tasks[1].name)
    state = reused.model.task_state()
    assert set(state) | {"texts"} == set(fresh_tensors)
    assert all(torch.equal(state[k], fresh_tensors[k]) for k in state)
    assert _without_timing(reused.manifest) == _without_timing(fresh_manifest)
    # T3: PCL-no-inherit's prompt starts random, SeqFT's encoder is its own T2's: nothing to reuse
    train_prompt(runs[first]["store"], tasks[:3], ctx, init_from=None, recipe=get_method(first))
    later = train_prompt(runs[second]["store"], tasks[:3], ctx, init_from=None, recipe=get_method(second))
    assert "reused_fit_seconds" not in later.manifest


def test_the_method_cards_are_the_registry_s_methods_in_order():
    from dataclasses import fields

    from pcl_pipeline.study.methods.cards import CARDS, MethodCard
    from pcl_pipeline.study.methods.registry import METHODS

    assert list(METHODS) == list(CARDS)
    for name, method in METHODS.items():
        assert all(getattr(method, f.name) == getattr(CARDS[name], f.name) for f in fields(MethodCard)), name
