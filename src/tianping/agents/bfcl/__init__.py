"""The Berkeley Function Calling Leaderboard (BFCL v4), single-turn: categories, both modes, and BFCL's AST checker
in our words (see docs/agents.md and docs/sources/bfcl.md)."""
