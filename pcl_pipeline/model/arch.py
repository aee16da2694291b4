"""SASRec's architecture hyperparameters, apart from the model so that the task catalog (which
extends them) is read without importing torch: the code location's definitions load in the
webserver's reloads and never train."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SASRecArch(BaseModel):
    """The architecture's hyperparameters: the one definition of these fields. The catalog's
    BackboneParams extends it with the training fields; SASRecConfig adds the vocabulary size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: int = Field(default=64, ge=2)  # d: item/position embedding and model width
    blocks: int = Field(default=2, ge=1)  # transformer blocks
    heads: int = Field(default=2, ge=1)  # attention heads per block (must divide hidden)
    max_len: int = Field(default=50, ge=2)  # L: positions (inputs longer than this keep their last L items)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> "SASRecArch":
        if self.hidden % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide hidden ({self.hidden})")
        return self

    def architecture(self) -> dict:
        """Only the architecture fields (a subclass's training fields left out)."""
        return self.model_dump(include=set(SASRecArch.model_fields))
