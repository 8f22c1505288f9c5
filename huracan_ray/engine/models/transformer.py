"""Small self-attention encoder over the causal window, with sinusoidal positional encoding."""

from __future__ import annotations

import math
from typing import Self

import torch
from pydantic import Field, model_validator
from torch import nn

from huracan_ray.engine.models.base import register
from huracan_ray.engine.models.sequence import SequenceModel, SequenceParams

__all__ = ["TransformerModel", "TransformerNet", "TransformerParams", "sinusoidal_encoding"]


def sinusoidal_encoding(length: int, dim: int) -> torch.Tensor:
    """Return the ``(length, dim)`` sine/cosine positional encoding of Vaswani et al."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    enc = torch.zeros(length, dim)
    enc[:, 0::2] = torch.sin(position * freq)
    enc[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return enc


class TransformerNet(nn.Module):
    """Linear embedding + positions → pre-norm encoder layers → [last token, mean] → dense head."""

    def __init__(
        self, n_features: int, d_model: int, num_heads: int, num_layers: int, dropout: float, seq_len: int
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(n_features, d_model)
        self.register_buffer("positions", sinusoidal_encoding(seq_len, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            dim_feedforward=2 * d_model,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Sequential(
            nn.Linear(2 * d_model, d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_model, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.encoder(self.embed(x) + self.positions[: x.shape[1]]))
        return self.head(torch.cat([h[:, -1], h.mean(dim=1)], dim=-1)).squeeze(-1)


class TransformerParams(SequenceParams):
    """Transformer parameters: ``hidden_size`` is the model width and must divide by ``num_heads``."""

    num_layers: int = Field(2, ge=1, le=8)
    num_heads: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> Self:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        return self


@register("transformer")
class TransformerModel(SequenceModel):
    """Self-attention encoder over the causal window."""

    Params = TransformerParams

    def _build_network(self, n_features: int) -> nn.Module:
        p = self.params
        return TransformerNet(n_features, p.hidden_size, p.num_heads, p.num_layers, p.dropout, p.seq_len)
