"""The one training loop every torch network of the zoo uses (networks differ only in their module).

Adam on MSE (regression) or BCE-with-logits (classification), shuffled mini-batches, gradient-norm
clipping, early stopping on an eval set with patience and restore of the best weights. Runs are
seeded without touching the global RNG streams (:func:`seeded`), on CUDA when it is available.
The thread count is whatever ``torch.set_num_threads`` says: the loop never changes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch
from pydantic import Field
from torch import nn

from huracan_ray.config import FrozenConfig

__all__ = [
    "Batchable",
    "EvalData",
    "LoopConfig",
    "Rows",
    "TrainReport",
    "predict_outputs",
    "resolve_device",
    "seeded",
    "train_network",
]


class Batchable(Protocol):
    """Inputs the loop can draw mini-batches from (rows, or causal windows of rows)."""

    def __len__(self) -> int: ...

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """Return the network inputs for the sample numbers ``index`` (a 1-D int64 tensor)."""
        ...


class Rows:
    """Plain rows of a 2-D matrix as network inputs."""

    def __init__(self, X: np.ndarray, device: torch.device | None = None) -> None:
        self._x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)

    def __len__(self) -> int:
        return self._x.shape[0]

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """Return rows ``index``."""
        return self._x[index.to(self._x.device)]


EvalData = tuple[Batchable, np.ndarray] | tuple[Batchable, np.ndarray, np.ndarray | None]
"""Early-stopping data: inputs, targets and optionally per-sample weights of the eval loss."""


class LoopConfig(FrozenConfig):
    """Settings of :func:`train_network`."""

    task: Literal["regression", "classification"] = "regression"
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(256, ge=1)
    max_epochs: int = Field(20, ge=1)
    patience: int = Field(3, ge=1)
    min_delta: float = Field(0.0, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)
    seed: int = 0


@dataclass(frozen=True)
class TrainReport:
    """What a training run did: epochs run, the epoch whose weights were kept, loss histories."""

    epochs_run: int
    best_epoch: int
    train_loss: tuple[float, ...]
    eval_loss: tuple[float, ...]


def resolve_device(choice: str = "auto") -> torch.device:
    """Return CUDA for ``"auto"`` when it is available, else CPU; or the device named."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch inside the block and restore the global RNG state afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _loss_fn(task: str) -> nn.Module:
    return nn.BCEWithLogitsLoss(reduction="none") if task == "classification" else nn.MSELoss(reduction="none")


@dataclass
class _Batches:
    inputs: Batchable
    targets: torch.Tensor
    weights: torch.Tensor | None

    def batch(
        self, index: torch.Tensor, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        index = index.to(self.targets.device)
        w = None if self.weights is None else self.weights[index]
        return self.inputs.take(index).to(device), self.targets[index], w


def _weighted_mean(losses: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return losses.mean()
    return (losses * weights).sum() / weights.sum().clamp_min(1e-12)


def _train_epoch(
    network: nn.Module,
    data: _Batches,
    optimiser: torch.optim.Optimizer,
    config: LoopConfig,
    generator: torch.Generator,
    device: torch.device,
) -> float:
    network.train()
    loss_fn = _loss_fn(config.task)
    order = torch.randperm(len(data.inputs), generator=generator)
    total = torch.zeros((), device=device)
    for start in range(0, len(order), config.batch_size):
        xb, yb, wb = data.batch(order[start : start + config.batch_size], device)
        loss = _weighted_mean(loss_fn(network(xb), yb), wb)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(network.parameters(), config.grad_clip)
        optimiser.step()
        total += loss.detach() * len(yb)
    return float(total) / max(len(order), 1)


def predict_outputs(
    network: nn.Module, inputs: Batchable, *, batch_size: int = 1024, device: torch.device | None = None
) -> np.ndarray:
    """Return the network's raw outputs (logits for classifiers) for every sample, in eval mode."""
    device = device or next(network.parameters()).device
    network.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            index = torch.arange(start, min(start + batch_size, len(inputs)))
            outputs.append(network(inputs.take(index).to(device)).float().cpu())
    if not outputs:
        return np.zeros(0, dtype=np.float32)
    return torch.cat(outputs).numpy()


def _eval_loss(network: nn.Module, data: EvalData, task: str, batch_size: int) -> float:
    inputs, targets = data[0], data[1]
    weights = data[2] if len(data) > 2 else None
    outputs = torch.from_numpy(predict_outputs(network, inputs, batch_size=max(batch_size, 1024)))
    losses = _loss_fn(task)(outputs, torch.from_numpy(targets))
    return float(_weighted_mean(losses, None if weights is None else torch.from_numpy(weights.astype(np.float32))))


def _snapshot(network: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


@dataclass
class _EarlyStopping:
    patience: int
    min_delta: float
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0

    def update(self, epoch: int, loss: float, network: nn.Module) -> bool:
        """Record the epoch's eval loss; return True when training should stop."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.bad_epochs = loss, epoch, 0
            self.best_state = _snapshot(network)
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.patience or not math.isfinite(loss)


def train_network(
    network: nn.Module,
    inputs: Batchable,
    targets: np.ndarray,
    *,
    config: LoopConfig,
    device: torch.device,
    eval_data: EvalData | None = None,
    sample_weight: np.ndarray | None = None,
) -> TrainReport:
    """Train ``network`` (outputs shape ``(batch,)``) in place; return what happened.

    With ``eval_data`` (inputs, targets and optionally per-sample weights of the eval loss) the loop
    stops after ``patience`` epochs without an eval-loss improvement and restores the best weights;
    without it, it runs ``max_epochs`` and keeps the last weights.
    """
    network.to(device)
    data = _Batches(
        inputs,
        torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32)).to(device),
        None if sample_weight is None else torch.from_numpy(sample_weight.astype(np.float32)).to(device),
    )
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    stopper = _EarlyStopping(config.patience, config.min_delta)
    train_hist: list[float] = []
    eval_hist: list[float] = []
    for epoch in range(1, config.max_epochs + 1):
        train_hist.append(_train_epoch(network, data, optimiser, config, generator, device))
        if eval_data is None:
            if not math.isfinite(train_hist[-1]):
                raise FloatingPointError(f"training diverged at epoch {epoch} (loss {train_hist[-1]})")
            continue
        eval_hist.append(_eval_loss(network, eval_data, config.task, config.batch_size))
        if stopper.update(epoch, eval_hist[-1], network):
            break
    if eval_data is not None:
        if stopper.best_state is None:
            raise FloatingPointError("training diverged: no finite eval loss")
        network.load_state_dict(stopper.best_state)
    network.eval()
    best_epoch = stopper.best_epoch if eval_data is not None else len(train_hist)
    return TrainReport(len(train_hist), best_epoch, tuple(train_hist), tuple(eval_hist))
