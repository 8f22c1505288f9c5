"""Causal windows over time-ordered rows, and the base class of the zoo's sequence networks.

The window of row ``i`` holds rows ``max(0, i - seq_len + 1) .. i``, left-padded with zeros, so a
prediction for row ``i`` never sees a later row. Windows are gathered per mini-batch by index
arithmetic on one padded tensor: no ``(n, seq_len, features)`` copy is ever materialised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from safetensors.torch import load_file, save_file
from torch import nn

from huracan_ray.engine.models.base import BaseModel, EvalSet, ModelParams
from huracan_ray.engine.models.torch_loop import (
    LoopConfig,
    TrainReport,
    predict_outputs,
    resolve_device,
    seeded,
    train_network,
)

__all__ = ["WEIGHTS_FILE", "CausalWindows", "SequenceModel", "SequenceParams", "causal_windows", "pad_left"]

WEIGHTS_FILE = "weights.safetensors"


def pad_left(X: np.ndarray, seq_len: int) -> np.ndarray:
    """Return ``X`` with ``seq_len - 1`` rows of zeros prepended."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    pad = np.zeros((seq_len - 1, X.shape[1]), dtype=X.dtype)
    return np.concatenate([pad, X], axis=0)


def causal_windows(X: np.ndarray, seq_len: int) -> np.ndarray:
    """Return a read-only view of shape ``(n_rows, seq_len, n_features)``: the causal window of each row."""
    view = np.lib.stride_tricks.sliding_window_view(pad_left(X, seq_len), seq_len, axis=0)
    return view.transpose(0, 2, 1)


class CausalWindows:
    """The causal windows of a matrix's rows, gathered per batch (a :class:`Batchable`)."""

    def __init__(self, X: np.ndarray, seq_len: int, device: torch.device | None = None) -> None:
        padded = pad_left(np.ascontiguousarray(X, dtype=np.float32), seq_len)
        self._padded = torch.from_numpy(padded).to(device)
        self._offsets = torch.arange(seq_len, device=self._padded.device)
        self._n = X.shape[0]

    def __len__(self) -> int:
        return self._n

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """Return the windows of rows ``index``: shape ``(len(index), seq_len, n_features)``."""
        index = index.to(self._padded.device)
        return self._padded[index[:, None] + self._offsets]


class SequenceParams(ModelParams):
    """Parameters shared by the sequence networks (the training-loop settings among them)."""

    seq_len: int = Field(16, ge=1, le=4096)
    hidden_size: int = Field(32, ge=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    learning_rate: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(256, ge=1)
    max_epochs: int = Field(20, ge=1)
    patience: int = Field(3, ge=1)
    grad_clip: float | None = Field(1.0, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class SequenceModel(BaseModel):
    """Base of the torch sequence models: subclasses only build their ``nn.Module``.

    The network maps a batch of windows ``(batch, seq_len, n_features)`` to ``(batch,)`` outputs.
    Regression targets are standardised on the training rows and predictions mapped back;
    classifiers output logits and predict ``sigmoid(logit)`` = P(up).
    """

    Params = SequenceParams

    def _build_network(self, n_features: int) -> nn.Module:
        raise NotImplementedError

    def _after_fit(self, train: CausalWindows) -> None:
        """Hook: derive extra learned attributes once training is done."""

    def _loop_config(self) -> LoopConfig:
        p = self.params
        return LoopConfig(
            task=p.task,
            learning_rate=p.learning_rate,
            weight_decay=p.weight_decay,
            batch_size=p.batch_size,
            max_epochs=p.max_epochs,
            patience=p.patience,
            grad_clip=p.grad_clip,
            seed=p.seed,
        )

    def _fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        eval_set: EvalSet | None,
        sample_weight: np.ndarray | None,
    ) -> None:
        p = self.params
        self.device_ = resolve_device(p.device)
        if self.task == "regression":
            std = float(y.std())
            self.target_mean_, self.target_scale_ = float(y.mean()), std if std > 0 else 1.0
        else:
            self.target_mean_, self.target_scale_ = 0.0, 1.0
        train = CausalWindows(X, p.seq_len, self.device_)
        eval_data = None
        if eval_set is not None:
            eval_data = (
                CausalWindows(eval_set[0], p.seq_len, self.device_),
                self._scale_targets(eval_set[1]),
                eval_set[2],
            )
        with seeded(p.seed, self.device_):
            network = self._build_network(X.shape[1])
            self.train_report_: TrainReport = train_network(
                network,
                train,
                self._scale_targets(y),
                config=self._loop_config(),
                device=self.device_,
                eval_data=eval_data,
                sample_weight=sample_weight,
            )
        self.network_ = network
        self._after_fit(train)

    def _scale_targets(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.target_mean_) / self.target_scale_).astype(np.float32)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        windows = CausalWindows(X, self.params.seq_len, self.device_)
        out = predict_outputs(self.network_, windows, batch_size=max(self.params.batch_size, 1024))
        out = out.astype(np.float64)
        if self.task == "classification":
            return 1.0 / (1.0 + np.exp(-out))
        return out * self.target_scale_ + self.target_mean_

    def _save_native(self, directory: Path) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in self.network_.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE), metadata={"model": self.name, "format": "state_dict"})

    def _fitted_state(self) -> dict[str, Any]:
        return {
            "target_mean": self.target_mean_,
            "target_scale": self.target_scale_,
            "best_epoch": self.train_report_.best_epoch,
            "epochs_run": self.train_report_.epochs_run,
        }

    def _load_native(self, directory: Path, fitted: dict[str, Any]) -> None:
        self.device_ = resolve_device(self.params.device)
        network = self._build_network(self.n_features_in_)
        network.load_state_dict(load_file(str(directory / WEIGHTS_FILE), device="cpu"))
        self.network_ = network.to(self.device_).eval()
        self.target_mean_ = float(fitted["target_mean"])
        self.target_scale_ = float(fitted["target_scale"])
        self.train_report_ = TrainReport(int(fitted["epochs_run"]), int(fitted["best_epoch"]), (), ())
