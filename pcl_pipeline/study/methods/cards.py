"""What each method of the study is, without its code: name, one-line summary, which parts train,
where its backbone comes from, its task texts and overrides. Torch-free, so that the study's
assets are defined (assets/study.py) without importing the training code; each method's module
builds its Method from its card here (methods/base.py), and registry.py lists the methods in
this table's order."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# What a task's backbone is: the stored pretrained one, frozen and shared ("frozen"); a copy of it
# fine-tuned with the task ("finetune"); a fresh SASRec of the same architecture trained from
# scratch on the task ("scratch"); one encoder fine-tuned on the tasks in sequence ("sequential":
# task k starts from the encoder left by task k-1, and every stored head is scored with the
# current encoder: methods/full.py); one copy of it fine-tuned jointly on all tasks after T1 with a
# head per task ("joint": MTL, not continual: it needs every task at once: methods/mtl.py). All
# but "frozen" store the backbone in each task's artifact.
BackboneMode = Literal["frozen", "finetune", "scratch", "sequential", "joint"]
# Where a task's description embeddings come from: the dataset's stored task_text embeddings
# (MiniLM in the pipeline), or the random text encoder (the random-task-embedding ablation).
TextEncoderKind = Literal["stored", "random"]


@dataclass(frozen=True)
class MethodCard:
    name: str
    summary: str  # one line: what trains
    backbone: BackboneMode = "frozen"
    prompt: bool = True  # position-wise prompt (and, with lam > 0, the contextual module)
    text_encoder: TextEncoderKind = "stored"
    overrides: dict = field(default_factory=dict)  # TaskParams fields this method fixes (e.g. lam=0)

    @property
    def variant(self) -> str:
        """The store variant holding this method's task artifacts and evals (apart from the catalog's)."""
        return f"method-{self.name}"

    @property
    def trains_backbone(self) -> bool:
        return self.backbone != "frozen"


CARDS: dict[str, MethodCard] = {c.name: c for c in (
    MethodCard("PCL", "prompt + contextual module + adapter; p_k inherits p_{k-1} from k >= 3; backbone frozen"),
    MethodCard("PCL-no-context", "prompt + adapter (lam = 0: no contextual module); backbone frozen",
               overrides={"lam": 0.0}),
    MethodCard("PCL-no-inherit", "as PCL, but p_k starts random for every k", overrides={"inherit_prompt": False}),
    MethodCard("PCL-random-text", "as PCL, task texts embedded by the random text encoder", text_encoder="random"),
    MethodCard("Adapter", "adapter only; backbone frozen; no prompt, no contextual module", prompt=False),
    MethodCard("FineAll", "a copy of the pretrained backbone fine-tuned fully with the task's adapter",
               backbone="finetune", prompt=False),
    MethodCard("SinMo", "a fresh SASRec (same architecture) trained from scratch with the task's adapter",
               backbone="scratch", prompt=False),
    MethodCard("SeqFT", "one encoder fine-tuned on the tasks in sequence, a head per task; earlier heads are scored "
                        "with the current encoder (forgetting)", backbone="sequential", prompt=False),
    MethodCard("MTL", "one backbone copy fine-tuned jointly on all tasks after T1, an adapter per task",
               backbone="joint", prompt=False),
    MethodCard("TERACON", "one encoder trained on the tasks in sequence with relation-aware task masks and knowledge "
                          "retention by pseudo-labels (Kim et al., KDD 2023), a head per task; every task scored with "
                          "the current model", backbone="sequential", prompt=False),
)}
