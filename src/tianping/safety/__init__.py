"""The safety benchmark: risk taxonomy, seed prompts, attack converters, refusal and harm judging."""

TASKS = ("safety", "safety_overrefusal")
"""The engine tasks of ``--suite safety`` (attack success, over-refusal). Here, not in ``suite``, so that the
engine, the CLI and the report can name them without importing the converters and the judge."""
