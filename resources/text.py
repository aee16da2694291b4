"""The frozen sentence encoder for task descriptions (real MiniLM, or random vectors for ablation)."""
from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource

from pcl_pipeline.text_encoder import MiniLMEncoder, RandomTextEncoder


class TextEncoderResource(ConfigurableResource):
    kind: Literal["minilm", "random"] = "minilm"
    seed: int = 0  # only for kind=random

    def encoder(self) -> MiniLMEncoder | RandomTextEncoder:
        return MiniLMEncoder() if self.kind == "minilm" else RandomTextEncoder(self.seed)

    @property
    def name(self) -> str:
        return "all-MiniLM-L6-v2" if self.kind == "minilm" else f"random(seed={self.seed})"
