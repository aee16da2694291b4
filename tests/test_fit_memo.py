"""The fit memo's key covers what a fit depends on, and an entry reads back exactly what was stored
(a damaged one reads as none, so the fit runs again)."""
from __future__ import annotations

import torch

from pcl_pipeline.training.loop import FitResult
from pcl_pipeline.training.memo import FitMemo


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.1), torch.nn.Linear(4, 2))
    model.register_buffer("texts", torch.ones(2, 3), persistent=False)
    return model


def test_the_key_changes_with_state_buffers_structure_trained_parts_rates_and_parts(tmp_path):
    memo = FitMemo(tmp_path, ("code",))
    model = _model()
    groups = [{"params": list(model.parameters()), "lr": 1e-3}]
    key = memo.key(model, groups, {"lr": 1e-3})
    same = _model()
    assert memo.key(same, [{"params": list(same.parameters()), "lr": 1e-3}], {"lr": 1e-3}) == key
    other_buffer = _model()
    other_buffer.texts.fill_(2.0)  # a non-persistent buffer (the task texts) is part of the state
    other_dropout = _model()
    other_dropout[1].p = 0.2  # structure: the module tree's repr
    other_init = _model(seed=1)
    changed = [
        memo.key(other_init, [{"params": list(other_init.parameters()), "lr": 1e-3}], {"lr": 1e-3}),
        memo.key(other_buffer, [{"params": list(other_buffer.parameters()), "lr": 1e-3}], {"lr": 1e-3}),
        memo.key(other_dropout, [{"params": list(other_dropout.parameters()), "lr": 1e-3}], {"lr": 1e-3}),
        memo.key(same, [{"params": list(same[2].parameters()), "lr": 1e-3}], {"lr": 1e-3}),  # fewer parts train
        memo.key(same, [{"params": list(same.parameters()), "lr": 3e-3}], {"lr": 1e-3}),
        memo.key(same, [{"params": list(same.parameters()), "lr": 1e-3}], {"lr": 2e-3}),
        memo.extended("data v2").key(same, [{"params": list(same.parameters()), "lr": 1e-3}], {"lr": 1e-3}),
    ]
    assert key not in changed and len(set(changed)) == len(changed)


def test_an_entry_reads_back_exactly_and_a_damaged_one_reads_as_none(tmp_path):
    memo = FitMemo(tmp_path)
    state = {"w": torch.randn(4, 3), "b": torch.randn(4)}
    fit = FitResult(best_state=state, best_score=0.25, best_epoch=3, stop_reason="patience",
                    history=[{"epoch": 1, "loss": 1 / 3, "valid": 0.1, "lr": 1e-3, "seconds": 0.5}])
    assert memo.load("k", torch.device("cpu")) is None
    memo.save("k", fit.best_state, fit.record(), 12.5)
    back = FitResult.from_record(*memo.load("k", torch.device("cpu")))
    assert back.record() == fit.record() and back.reused_seconds == 12.5
    assert all(torch.equal(back.best_state[k], state[k]) for k in state)
    tensors = tmp_path / "k.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-4] + b"\0\0\0\0")
    assert memo.load("k", torch.device("cpu")) is None
