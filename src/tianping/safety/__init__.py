"""The safety benchmark: risk taxonomy, seed prompts, attack converters, refusal and harm judging."""
