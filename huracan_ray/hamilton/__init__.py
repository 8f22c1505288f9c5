"""Hamilton, the decision service (spec sections 1, 3, 4, 9, 10): regime → model → RL sizing → risk → broker.

- ``bundle``: load each symbol's approved and standby models, its usable cascade variant and its
  allocation policy from the Brain (artifacts hash-verified) into an immutable
  :class:`~huracan_ray.hamilton.bundle.ServingBundle`.
- ``regime``: the current volatility regime, liquidation density and cascade indicator from a request's bars.
- ``router``: the spec's model switching by regime (the cascade variant during a liquidation cascade),
  with the reason for each choice.
- ``risk``: :class:`~huracan_ray.hamilton.risk.RiskLimits`, the last word on exposure.
- ``decision``: the pure decision core, ``decide(bundle, bars, account, limits) -> Decision``.
- ``broker``: the paper broker; its fills map 1:1 onto the Brain's ``trades`` table.
- ``api``: the FastAPI app (bearer-token auth) and the service state behind it.
- ``app``: the Ray Serve deployment and its typed app builder (``serve/hamilton.yaml``).
- ``client``: a small httpx client for replays.

Importing this package starts nothing: no Ray, no Serve, no server.
"""
