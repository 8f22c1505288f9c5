"""1-D convolutional network over the causal window (dilated causal convolutions, residual blocks)."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from huracan_ray.engine.models.base import register
from huracan_ray.engine.models.sequence import SequenceModel, SequenceParams

__all__ = ["CNNModel", "CNNNet", "CNNParams", "CausalConvBlock"]


class CausalConvBlock(nn.Module):
    """Left-padded dilated Conv1d → GELU → dropout, with a residual connection."""

    def __init__(self, in_channels: int, channels: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.left_pad = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(in_channels, channels, kernel_size, dilation=dilation)
        self.skip = nn.Conv1d(in_channels, channels, 1) if in_channels != channels else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(nn.functional.pad(x, (self.left_pad, 0)))
        return self.dropout(nn.functional.gelu(out)) + self.skip(x)


class CNNNet(nn.Module):
    """Stacked causal conv blocks (dilation doubling) → [last step, mean over time] → dense head."""

    def __init__(self, n_features: int, channels: int, num_layers: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(
                CausalConvBlock(n_features if i == 0 else channels, channels, kernel_size, 2**i, dropout)
                for i in range(num_layers)
            )
        )
        self.head = nn.Sequential(
            nn.Linear(2 * channels, channels), nn.GELU(), nn.Dropout(dropout), nn.Linear(channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x.transpose(1, 2))  # (batch, channels, time)
        return self.head(torch.cat([h[..., -1], h.mean(dim=-1)], dim=-1)).squeeze(-1)


class CNNParams(SequenceParams):
    """CNN parameters: ``hidden_size`` is the channel count."""

    num_layers: int = Field(3, ge=1, le=10)
    kernel_size: int = Field(3, ge=1)


@register("cnn")
class CNNModel(SequenceModel):
    """1-D CNN over the causal window."""

    Params = CNNParams

    def _build_network(self, n_features: int) -> nn.Module:
        p = self.params
        return CNNNet(n_features, p.hidden_size, p.num_layers, p.kernel_size, p.dropout)
