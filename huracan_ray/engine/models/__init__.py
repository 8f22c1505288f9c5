"""The model zoo: every model registers itself in ``MODELS`` under a short name.

Importing this package registers the built-in models (xgboost, lstm, cnn, transformer); it starts
nothing and touches no device.
"""

from huracan_ray.engine.models import cnn, lstm, transformer, xgboost_model
from huracan_ray.engine.models.base import (
    MODELS,
    BaseModel,
    Model,
    ModelParams,
    NotFittedError,
    build_model,
    load_model,
    model_class,
    read_card,
    register,
)

__all__ = [
    "MODELS",
    "BaseModel",
    "Model",
    "ModelParams",
    "NotFittedError",
    "build_model",
    "cnn",
    "load_model",
    "lstm",
    "model_class",
    "read_card",
    "register",
    "transformer",
    "xgboost_model",
]
