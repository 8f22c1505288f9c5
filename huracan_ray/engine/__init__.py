"""Engine: the model zoo, the shared torch training loop, search, backtest metrics and the registry.

``engine.backtest`` turns predictions into positions and scores them (Sharpe, Sortino, drawdown,
profit factor, hit ratio, Calmar, accuracy, composite score). ``engine.models`` holds the model
registry (``MODELS``) and the models: XGBoost, LSTM, CNN and Transformer; neither imports Ray.
``engine.run`` drives the Tune search and registration; ``engine.variants`` trains per-regime
(normal / cascade) variants of each approved model and ``engine.variant_registry`` judges them.
"""
