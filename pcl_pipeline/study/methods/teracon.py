"""TERACON (Kim et al., KDD 2023, "Task Relation-aware Continual User Representation Learning";
public code: github.com/Sein-Kim/TERACON), a continual-learning competitor, carried over to the
study's SASRec backbone, data, splits, heads, loop and budget.

What carries over from the paper and its reference code:
- one encoder trained on every task in sequence: all of its parameters keep updating until the
  last task, and each task keeps its own head (the adapter every method of the study uses);
- task embeddings and relation-aware soft masks on layer outputs (Eq. 12-13): every task after
  T1 has an embedding e (d,) per masked layer output, initialised U(0, 2); task t's mask there is
  sigmoid(s * (tanh(s * [e_t; e_j; -e_j for every other task j]) . w_t + b_t)), with w_t
  (2n - 1,) ~ N(0, 0.01) and b_t = 0.1, n the tasks after T1 learned so far. As in the reference
  code, the relation weights are drawn anew when a task is added (their size grows with n), the
  embeddings are kept and clamped to [-6, 6];
- s annealed over each epoch's batches from 1/smax to smax (Eq. 19), smax at evaluation;
- knowledge retention with pseudo-labels (Eq. 9-10, 16): on a random share r_j of every batch,
  the model as it was before this task (frozen) scores each earlier task j with j's mask and head,
  and the current model's scores for j are pulled to them by a mean squared error, weighted
  alpha * r_j / sum(r); the earlier heads and masks train through this term only;
- relation-aware sampling (Eq. 14-15): r_j = 1 - mean over layers of sigmoid(6 cos(m_j, m_new)),
  m_j from the frozen model and m_new the new task's masks of the same step, recomputed after
  every step from 0.9 at the start of the task.

What changes for SASRec, and why:
- the masks sit on the two residual branches of each transformer block (the attention output and
  the feed-forward output), where TERACON masks the two convolution outputs of each NextItNet
  residual block: SASRec's blocks have two branches, NextItNet's two convolutions;
- T1 is the study's pretrained next-item backbone, trained without masks, so T1 keeps no mask (all
  ones) and its head is the shared item table; it takes part in knowledge retention like every
  earlier task (TERACON trains its first task with a mask of its own);
- alpha 0.7 and smax 50 are the reference code's defaults. The backbone's rate is the method's
  knob (search.py: the two values the other fine-tuning methods get); the task's parts (its head,
  the task embeddings and relation weights) train at the catalog's rate of the task, as every
  method's parts do. The reference code has no gradient compensation or clipping enabled; neither
  has this one.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from pcl_pipeline.catalog import TaskParams, TaskSpec
from pcl_pipeline.model.pcl import PCLTaskModel, build_task_model
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.recipe import Start
from pcl_pipeline.store.artifact_store import TEXTS_KEY, DatasetStore
from pcl_pipeline.store.artifacts import load_artifact, load_manifest
from pcl_pipeline.study.methods.base import Method
from pcl_pipeline.study.methods.cards import CARDS

ALPHA = 0.7  # weight of the knowledge-retention term
SMAX = 50.0  # the mask scale at evaluation; training anneals from 1 / SMAX up to it
EMBEDDING_BOUND = 6.0  # task embeddings are kept in [-6, 6]
START_RATIO = 0.9  # share of a batch each earlier task's retention reads before the masks are compared


class MaskedSASRec(SASRec):
    """SASRec whose blocks' two residual branches (attention output, feed-forward output) are
    multiplied by soft masks `masks` (2 * blocks, d), set by the model that owns it before it
    encodes; None leaves the backbone as it is (T1 has no mask). Holds no tensors beyond SASRec's,
    so its state loads into a plain SASRec (T1 is scored that way)."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__(cfg)
        self.masks: torch.Tensor | None = None
        for b, block in enumerate(self.blocks):
            block.attn.out_proj.register_forward_hook(functools.partial(_masked_output, self, 2 * b))
            block.ffn.register_forward_hook(functools.partial(_masked_output, self, 2 * b + 1))

    @classmethod
    def of(cls, backbone: SASRec) -> "MaskedSASRec":
        """A new masked encoder holding a copy of `backbone`'s weights."""
        masked = cls(backbone.cfg).to(backbone.item_emb.weight.device)
        masked.load_state_dict(backbone.state_dict(), strict=True)
        return masked


def _masked_output(owner: MaskedSASRec, slot: int, module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
    return output if owner.masks is None else output * owner.masks[slot]


@dataclass(frozen=True)
class Head:
    """What rebuilds one task's head around the shared encoder (stored: its adapter's tensors)."""
    name: str
    kind: str
    n_targets: int
    params: TaskParams
    to_backbone: torch.Tensor | None  # item tasks: target id -> backbone item id (the item prior)


@dataclass
class Continuation:
    """What a new task's TERACON model continues from: the model before it (frozen; the pretrained
    encoder alone before the first task after T1), the earlier tasks' heads, and the number of
    batches in one of the new task's epochs (the annealing of s)."""
    previous: "TeraconModel | MaskedSASRec"
    heads: list[Head] = field(default_factory=list)
    n_batches: int = 1


class TeraconModel(PCLTaskModel):
    """The encoder, every learned task's head, the task embeddings and relation weights. Scores the
    task `scoring` (an index into `heads`; the last one, the task it was trained for, by default)."""

    def __init__(self, backbone: MaskedSASRec, heads: list[Head], texts: torch.Tensor, n_batches: int = 1,
                 previous: "TeraconModel | MaskedSASRec | None" = None) -> None:
        views = [build_task_model(backbone, h.kind, h.n_targets, h.params, texts, None, h.to_backbone,
                                  with_prompt=False, train_backbone=True) for h in heads]
        own = views[-1]
        super().__init__(backbone, None, None, own.adapter, texts, heads[-1].params.lam, item_prior=own.item_prior,
                         pool=own.pool, train_backbone=True)
        self.heads = heads
        self.earlier = nn.ModuleList(view.adapter for view in views[:-1])
        self._views = views  # each head around the shared encoder (a plain list: registered once, above)
        n, slots, d = len(heads), 2 * backbone.cfg.blocks, backbone.cfg.hidden
        self.task_emb = nn.Parameter(torch.empty(n, slots, d).uniform_(0.0, 2.0))
        self.relation_w = nn.Parameter(torch.empty(n, slots, 2 * n - 1).normal_(0.0, 0.01))
        self.relation_b = nn.Parameter(torch.full((n, slots), 0.1))
        self.register_buffer("ratios", torch.full((n,), START_RATIO))  # T1, then the earlier tasks
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # training batches so far
        self.scoring = n - 1
        self.n_batches = max(1, n_batches)
        # the frozen model before this task: read, never trained or stored with this one (not a submodule)
        object.__setattr__(self, "_previous", previous)
        self._s = SMAX
        self._new_masks: torch.Tensor | None = None

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        for view in self._views[:-1]:  # their item priors (their adapters and encoder are this model's)
            view._apply(fn, recurse)
        return self

    def part_parameters(self) -> list[nn.Parameter]:
        return [*self.adapter.parameters(), *self.earlier.parameters(), self.task_emb, self.relation_w,
                self.relation_b]

    def masks_of(self, i: int, s: float) -> torch.Tensor:
        """Task i's (an index into heads) relation-aware soft masks (2 * blocks, d) at scale s."""
        e = self.task_emb.clamp(-EMBEDDING_BOUND, EMBEDDING_BOUND)  # (n, slots, d)
        rows = [e[i]] + [x for j in range(len(e)) if j != i for x in (e[j], -e[j])]
        related = torch.tanh(s * torch.stack(rows))  # (2n - 1, slots, d)
        score = torch.einsum("ksd,sk->sd", related, self.relation_w[i]) + self.relation_b[i].unsqueeze(-1)
        return torch.sigmoid(s * score)

    def scores(self, j: int, seq: torch.Tensor, s: float) -> torch.Tensor:
        """Task j's scores (j = 0: T1's next-item scores over every item, unmasked; j >= 1: heads[j - 1])."""
        if j == 0:
            self.backbone.masks = None
            return self.backbone.full_sort_scores(seq)
        self.backbone.masks = self.masks_of(j - 1, s)
        view = self._views[j - 1]
        return super().forward(seq) if j == len(self.heads) else view(seq)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        if self.training:  # the reference code clamps after every step; here before the next one
            with torch.no_grad():
                self.task_emb.clamp_(-EMBEDDING_BOUND, EMBEDDING_BOUND)
            self._s = (SMAX - 1 / SMAX) * (int(self.steps) % self.n_batches) / self.n_batches + 1 / SMAX
            self.steps += 1
        s = self._s if self.training else SMAX
        out = self.scores(self.scoring + 1, seq, s)
        if self.training:
            self._new_masks = self.backbone.masks.detach()
        return out

    def auxiliary_loss(self, seq: torch.Tensor) -> torch.Tensor | None:
        """Knowledge retention on this batch (call after forward on it): each earlier task's scores
        pulled to what the model before this task gave, on a share of the batch (the ratios, then
        updated from how alike the frozen model's masks and the new task's are)."""
        if not self.training or self._previous is None:
            return None
        s, total = self._s, seq.new_zeros((), dtype=torch.float32)
        ratios = [float(r) for r in self.ratios]
        for j, ratio in enumerate(ratios):
            keep = torch.randperm(len(seq), device=seq.device)[: int(len(seq) * ratio)]
            if len(keep) == 0:
                continue
            with torch.no_grad():
                target = _scores(self._previous, j, seq[keep], s)
            total = total + ratio / sum(ratios) * F.mse_loss(self.scores(j, seq[keep], s).float(), target.float())
        with torch.no_grad():
            for j in range(len(ratios)):
                self.ratios[j] = 1.0 - torch.sigmoid(6 * F.cosine_similarity(
                    _masks(self._previous, j, s, self._new_masks), self._new_masks, dim=1)).mean()
        return ALPHA * total


def _scores(model: "TeraconModel | MaskedSASRec", j: int, seq: torch.Tensor, s: float) -> torch.Tensor:
    if isinstance(model, TeraconModel):
        return model.scores(j, seq, s)
    return model.full_sort_scores(seq)  # the pretrained encoder: T1 only


def _masks(model: "TeraconModel | MaskedSASRec", j: int, s: float, like: torch.Tensor) -> torch.Tensor:
    """Task j's masks in `model` (T1, and the pretrained encoder: all ones)."""
    if j == 0 or not isinstance(model, TeraconModel):
        return torch.ones_like(like)
    return model.masks_of(j - 1, s)


def _heads(store: DatasetStore, names: list[str], n_items: int) -> list[Head]:
    """The stored heads of tasks `names` of this variant, rebuilt from their manifests and vocabularies."""
    heads = []
    for name in names:
        manifest = load_manifest(store.task_parts_paths(name))
        params, to_backbone = store.stored_head(name, manifest, n_items)
        heads.append(Head(name, manifest["kind"], manifest["n_targets"], params, to_backbone))
    return heads


def load_teracon(store: DatasetStore, task: str, device: torch.device) -> TeraconModel:
    """The TERACON model stored with `task` (every head learned up to it), frozen, in eval mode."""
    manifest = load_manifest(store.task_parts_paths(task))
    backbone_manifest = load_manifest(store.backbone_paths)
    backbone = MaskedSASRec(SASRecConfig(**backbone_manifest["model_config"]))
    heads = _heads(store, manifest["chain"][1:], backbone.cfg.n_items)
    texts = torch.zeros(len(manifest["chain"]), manifest["tensors"][TEXTS_KEY][1])
    model = TeraconModel(backbone, heads, texts)
    tensors, _ = load_artifact(store.task_parts_paths(task))
    model.load_state_dict({k: v for k, v in tensors.items() if k != TEXTS_KEY}, strict=True)
    model.requires_grad_(False)
    return model.to(device).eval()


@dataclass(frozen=True)
class Teracon(Method):
    """The study's recipe of TERACON: task k continues from the model task k-1 left (its encoder,
    heads and task embeddings), and every stored task is scored with the model of the task learned last."""

    def trains(self, params: TaskParams) -> tuple[str, ...]:
        """Every part of the model: the encoder, the task's head, the earlier heads (from the third
        task on), the task embeddings and the relation weights."""
        return ("adapter", "backbone", "earlier", "relation_b", "relation_w", "task_emb")

    def start(self, store: DatasetStore, chain: list[TaskSpec], backbone: SASRec, device: torch.device) -> Start:
        task = chain[-1]
        data = store.task_data(task, backbone.cfg.n_items, backbone.cfg.max_len)
        batches = -(-len(data.train) // self.task_params(task.task_params).batch_size)
        if len(chain) < 3:
            previous = MaskedSASRec.of(backbone).requires_grad_(False).eval()
            encoder, parts, lineage = previous, (), {"encoder_from": None}
        else:
            previous = load_teracon(store, chain[-2].name, device)
            sha = store.load_task_tensors(chain[-2].name)[1]["sha256"]
            encoder, parts, lineage = previous.backbone, (sha,), {"encoder_from": chain[-2].name}
        heads = previous.heads if isinstance(previous, TeraconModel) else []
        encoder = MaskedSASRec.of(encoder)
        encoder.continuation = Continuation(previous, list(heads), batches)  # read by build
        return Start(encoder, parts, lineage)

    def build(self, backbone: SASRec, kind: str, n_targets: int, params: TaskParams, texts: torch.Tensor,
              inherit_prompt: torch.Tensor | None, to_backbone: torch.Tensor | None = None) -> PCLTaskModel:
        """A new model for the task around a copy of the encoder `start` gave: the earlier heads and
        task embeddings as the model before it left them, a new head, a new task embedding and new
        relation weights (drawn from the seed)."""
        continuation: Continuation = backbone.continuation
        heads = continuation.heads + [Head("", kind, n_targets, params, to_backbone)]
        model = TeraconModel(MaskedSASRec.of(backbone), heads, texts, continuation.n_batches, continuation.previous)
        previous = continuation.previous
        if isinstance(previous, TeraconModel):
            with torch.no_grad():
                model.task_emb[:-1].copy_(previous.task_emb)
                adapters = [*previous.earlier, previous.adapter]
                for mine, theirs in zip(model.earlier, adapters):
                    mine.load_state_dict(theirs.state_dict(), strict=True)
        return model

    def load_for_scoring(self, store: DatasetStore, task: str, device: torch.device,
                         current: str) -> tuple[PCLTaskModel, dict]:
        """Task `task` scored by the model of `current`, the task the scored chain learned last
        (its mask and head)."""
        model = load_teracon(store, current, device)
        model.scoring = [h.name for h in model.heads].index(task)
        return model, {**load_manifest(store.task_parts_paths(task)), "encoder_from": current}


TERACON = Teracon.of(CARDS["TERACON"])
