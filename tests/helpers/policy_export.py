"""Write a small (untrained) allocation-policy export, as ``rl.train.export_module`` lays it out."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from huracan_ray.rl.env import OBS_SIZE, EnvSettings
from huracan_ray.rl.policy import CARD_FILE, CARD_FORMAT, WEIGHTS_FILE, build_mlp, file_sha256

LAYERS = [
    {"type": "linear", "in": OBS_SIZE, "out": 8},
    {"type": "activation", "name": "tanh"},
    {"type": "linear", "in": 8, "out": 4},
]


def write_policy_export(directory: Path, settings: EnvSettings, seed: int = 0) -> torch.nn.Sequential:
    """Write ``policy.safetensors`` + its card of a seeded random MLP into ``directory``; return the net."""
    torch.manual_seed(seed)
    net = build_mlp(LAYERS)
    save_file(net.state_dict(), str(directory / WEIGHTS_FILE))
    card = {
        "format": CARD_FORMAT,
        "layers": LAYERS,
        "env_settings": settings.model_dump(),
        "weights": {"file": WEIGHTS_FILE, "sha256": file_sha256(directory / WEIGHTS_FILE)},
    }
    (directory / CARD_FILE).write_text(json.dumps(card))
    return net
