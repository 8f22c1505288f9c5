"""Reproduce why Huracan uses Ray Train's XGBoostTrainer instead of xgboost-ray.

Trains the same small model with xgboost-ray (if importable) and with
``ray.train.xgboost.XGBoostTrainer`` on a local 2-CPU Ray, and prints what happens to each.
Install xgboost-ray beside the project to try it: ``pip install --no-deps xgboost-ray==0.1.19``.
This is a compatibility check, not a benchmark: it prints no ratio.
"""

from __future__ import annotations

import tempfile
import traceback

import numpy as np
import ray


def data() -> tuple[np.ndarray, np.ndarray]:
    """Return a small regression set."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2_000, 5))
    return x, x[:, 0] * 2 + rng.normal(scale=0.1, size=2_000)


def try_xgboost_ray() -> str:
    """Train with xgboost-ray; return what happened."""
    try:
        from xgboost_ray import RayDMatrix, RayParams, train
    except ImportError as exc:
        return f"xgboost-ray not installed ({exc})"
    x, y = data()
    try:
        train(
            {"objective": "reg:squarederror"},
            RayDMatrix(x, y),
            num_boost_round=5,
            ray_params=RayParams(num_actors=2, cpus_per_actor=1),
        )
        return "xgboost-ray trained"
    except Exception as exc:
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return f"xgboost-ray FAILED: {last}"


def try_ray_train() -> str:
    """Train with Ray Train's XGBoostTrainer; return what happened."""
    import xgboost
    from ray.train import RunConfig, ScalingConfig
    from ray.train.xgboost import RayTrainReportCallback, XGBoostTrainer

    x, y = data()
    ds = ray.data.from_items(
        [{**{f"f{i}": float(v) for i, v in enumerate(row)}, "y": float(t)} for row, t in zip(x, y, strict=True)]
    )

    def train_fn(config: dict) -> None:
        shard = ray.train.get_dataset_shard("train").materialize().to_pandas()
        dtrain = xgboost.DMatrix(shard.drop(columns=["y"]), label=shard["y"])
        xgboost.train(config, dtrain, num_boost_round=5, callbacks=[RayTrainReportCallback()])

    with tempfile.TemporaryDirectory() as tmp:
        result = XGBoostTrainer(
            train_fn,
            train_loop_config={"objective": "reg:squarederror"},
            datasets={"train": ds},
            scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 0.5}),
            run_config=RunConfig(storage_path=tmp, name="xgb"),
        ).fit()
    return f"ray.train XGBoostTrainer trained (metrics: {sorted(result.metrics)[:3]}...)"


def main() -> None:
    import xgboost

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        print(f"xgboost {xgboost.__version__}, ray {ray.__version__}")
        print(try_ray_train())  # first: a failed xgboost-ray run can leave actors holding the CPUs
        print(try_xgboost_ray())
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
