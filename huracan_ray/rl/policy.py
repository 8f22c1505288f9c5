"""Torch-only inference for an exported allocation policy (no Ray needed).

An export directory holds ``policy.safetensors`` (the actor's weights, keys of a plain
``torch.nn.Sequential``) and ``policy.json`` (the card: layer list, observation and action layout,
action mapping, env settings, the weights' sha256). :meth:`AllocationPolicy.load` rebuilds the MLP
from the card, checks the hash and loads the weights strictly. The network outputs the diagonal
Gaussian's inputs ``[mean (2), log_std (2)]``; the deterministic action is the mean, mapped to
(fraction, leverage) by the env's own :func:`~huracan_ray.rl.env.map_action`.

Build observations with :func:`build_observation` (the env's own encoder, re-exported here) and the
policy's :attr:`AllocationPolicy.settings`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from huracan_ray.rl.env import ACTION_SIZE, OBS_SIZE, EnvSettings, build_observation, map_action

__all__ = [
    "CARD_FILE",
    "CARD_FORMAT",
    "WEIGHTS_FILE",
    "AllocationPolicy",
    "build_mlp",
    "build_observation",
    "file_sha256",
]

CARD_FILE = "policy.json"
WEIGHTS_FILE = "policy.safetensors"
CARD_FORMAT = "huracan.rl.allocation_policy/v1"
_ACTIVATIONS: dict[str, type[torch.nn.Module]] = {
    "tanh": torch.nn.Tanh,
    "relu": torch.nn.ReLU,
    "silu": torch.nn.SiLU,
    "elu": torch.nn.ELU,
}


def build_mlp(layers: list[dict[str, Any]]) -> torch.nn.Sequential:
    """Build a ``Sequential`` from card layers: ``{"type": "linear", "in", "out"}`` or activations."""
    modules: list[torch.nn.Module] = []
    for layer in layers:
        if layer["type"] == "linear":
            modules.append(torch.nn.Linear(int(layer["in"]), int(layer["out"])))
        elif layer["type"] == "activation" and layer["name"] in _ACTIVATIONS:
            modules.append(_ACTIVATIONS[layer["name"]]())
        else:
            raise ValueError(f"unsupported layer in policy card: {layer}")
    return torch.nn.Sequential(*modules)


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class AllocationPolicy:
    """A deterministic allocation policy: observation -> (capital fraction, leverage)."""

    def __init__(self, net: torch.nn.Sequential, card: dict[str, Any]) -> None:
        self._net = net.eval()
        self._card = card
        self._settings = EnvSettings(**card["env_settings"])

    @classmethod
    def load(cls, directory: Path | str) -> AllocationPolicy:
        """Load an export directory written by :func:`huracan_ray.rl.train.train_ppo`."""
        directory = Path(directory)
        card = json.loads((directory / CARD_FILE).read_text())
        if card.get("format") != CARD_FORMAT:
            raise ValueError(f"not an allocation policy card: format={card.get('format')!r}")
        weights = directory / card["weights"]["file"]
        digest = file_sha256(weights)
        if digest != card["weights"]["sha256"]:
            raise ValueError(f"{weights} sha256 {digest} does not match the card")
        net = build_mlp(card["layers"])
        net.load_state_dict(load_file(weights), strict=True)
        return cls(net, card)

    @property
    def card(self) -> dict[str, Any]:
        """Return a copy of the policy card."""
        return json.loads(json.dumps(self._card))

    @property
    def settings(self) -> EnvSettings:
        """Return the env settings the policy was trained with (use them to build observations)."""
        return self._settings

    def observation(self, **inputs: Any) -> np.ndarray:
        """Build observations with this policy's settings (see :func:`build_observation`)."""
        return build_observation(self._settings, **inputs)

    def action_mean(self, obs: np.ndarray) -> np.ndarray:
        """Return the Gaussian's mean (the raw action before clipping) for ``[n, OBS_SIZE]`` obs."""
        batch = np.asarray(obs, dtype=np.float32).reshape(-1, OBS_SIZE)
        with torch.no_grad():
            out = self._net(torch.from_numpy(batch))
        return out[:, :ACTION_SIZE].numpy().astype(np.float64)

    def act_batch(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (fractions, leverages) for a batch of observations ``[n, OBS_SIZE]``."""
        return map_action(self.action_mean(obs), self._settings.max_leverage)

    def act(self, obs: np.ndarray) -> tuple[float, float]:
        """Return the deterministic (fraction in [0, 1], leverage in [1, max_leverage]) for one obs."""
        obs = np.asarray(obs)
        if obs.shape != (OBS_SIZE,):
            raise ValueError(f"expected one observation of shape ({OBS_SIZE},), got {obs.shape}")
        fraction, leverage = self.act_batch(obs[None, :])
        return float(fraction[0]), float(leverage[0])
