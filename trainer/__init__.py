"""Reference trainer: GRPO through the reward service, MLAE adapters, policies and tasks."""
