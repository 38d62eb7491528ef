"""Shims that plug the service into trainers as their own reward hooks.

- `trainer.integrations.trl`: ``MedRewardTRL`` / ``AsyncMedRewardTRL`` for ``GRPOTrainer(reward_funcs=...)``.
- `trainer.integrations.verl`: ``compute_score`` for ``reward.custom_reward_function``.
- `trainer.integrations.areal`: ``reward_fn`` / ``make_reward_fn`` for ``RLVRWorkflow(reward_fn=...)``.

OpenRLHF, slime and NeMo Gym need none: they call the service's adapter routes directly.
"""
