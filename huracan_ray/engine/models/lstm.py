"""The spec's standard LSTM: feature attention, bidirectional stacked LSTM, temporal attention.

Architecture (spec section 7): a learned feature-attention gate over the input features, 2–3
bidirectional LSTM layers each followed by LayerNorm and dropout (0.2–0.3), attention pooling
over the window's time steps, and a dense head with an activation. The mean feature-attention
weights on the training rows are kept (:meth:`LSTMModel.attention_weights_`) for the Brain's
``attention_weights`` table. "Bidirectional" reads the causal window both ways; the window itself
ends at the predicted row, so nothing later is seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from huracan_ray.engine.models.base import register
from huracan_ray.engine.models.sequence import CausalWindows, SequenceModel, SequenceParams

__all__ = ["FeatureAttention", "LSTMModel", "LSTMNet", "LSTMParams", "TemporalAttention"]


class FeatureAttention(nn.Module):
    """Per-time-step softmax weights over the input features; rescales inputs by ``n_features * w``."""

    def __init__(self, n_features: int, hidden_size: int) -> None:
        super().__init__()
        self.n_features = n_features
        self.score = nn.Sequential(nn.Linear(n_features, hidden_size), nn.Tanh(), nn.Linear(hidden_size, n_features))

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """Return the attention weights, shape like ``x``, summing to 1 over features."""
        return torch.softmax(self.score(x), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x) * self.n_features


class TemporalAttention(nn.Module):
    """Additive attention pooling over time steps: ``(batch, time, dim) -> (batch, dim)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.score = nn.Linear(dim, 1, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        alpha = torch.softmax(self.score(torch.tanh(self.proj(h))), dim=1)
        return (alpha * h).sum(dim=1)


class LSTMNet(nn.Module):
    """Feature attention → [BiLSTM → LayerNorm → dropout] × layers → temporal attention → dense head."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        width = 2 * hidden_size
        self.feature_attention = FeatureAttention(n_features, hidden_size)
        self.lstms = nn.ModuleList(
            nn.LSTM(n_features if i == 0 else width, hidden_size, batch_first=True, bidirectional=True)
            for i in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.temporal_attention = TemporalAttention(width)
        self.head = nn.Sequential(
            nn.Linear(2 * width, hidden_size), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_size, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.feature_attention(x)
        for lstm, norm in zip(self.lstms, self.norms, strict=True):
            h = self.dropout(norm(lstm(h)[0]))
        pooled = torch.cat([self.temporal_attention(h), h[:, -1]], dim=-1)
        return self.head(pooled).squeeze(-1)


class LSTMParams(SequenceParams):
    """LSTM parameters; layers and dropout are held to the spec's standard ranges."""

    num_layers: int = Field(2, ge=2, le=3)
    dropout: float = Field(0.2, ge=0.2, le=0.3)


@register("lstm")
class LSTMModel(SequenceModel):
    """Bidirectional stacked LSTM with feature and temporal attention (the spec's standard LSTM)."""

    Params = LSTMParams

    def _build_network(self, n_features: int) -> nn.Module:
        p = self.params
        return LSTMNet(n_features, p.hidden_size, p.num_layers, p.dropout)

    def _after_fit(self, train: CausalWindows) -> None:
        total = torch.zeros(self.n_features_in_, dtype=torch.float64)
        attention = self.network_.feature_attention
        attention.eval()
        with torch.inference_mode():
            for start in range(0, len(train), 4096):
                index = torch.arange(start, min(start + 4096, len(train)))
                weights = attention.weights(train.take(index).to(self.device_))
                total += weights[:, -1].double().sum(dim=0).cpu()  # each row's own time step
        self.feature_attention_ = (total / max(len(train), 1)).numpy()

    def attention_weights_(self) -> dict[str, float]:
        """Return the mean feature-attention weight of each feature on the training rows (sum 1)."""
        return dict(zip(self.feature_names(), map(float, self.feature_attention_), strict=True))

    def _fitted_state(self) -> dict[str, Any]:
        return {**super()._fitted_state(), "feature_attention": [float(w) for w in self.feature_attention_]}

    def _load_native(self, directory: Path, fitted: dict[str, Any]) -> None:
        super()._load_native(directory, fitted)
        self.feature_attention_ = np.asarray(fitted["feature_attention"], dtype=np.float64)
