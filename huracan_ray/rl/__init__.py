"""RL Agent: a PPO allocator that sizes the selected model's trades (spec section 4).

The model picks the direction, the policy picks how much capital and how much leverage:
``exposure = sign(prediction) * fraction * leverage``.

- ``env``: the gymnasium ``AllocationEnv``, its settings, and the observation/action encoding that
  Hamilton shares (``build_observation``, ``map_action``).
- ``reward``: the spec's daily reward, paid per step so that a day's rewards sum to the formula.
- ``train``: RLlib PPO (new API stack) training and the pickle-free export (safetensors + JSON card).
- ``policy``: torch-only inference from an export; no Ray needed.
"""
