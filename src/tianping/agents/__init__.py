"""Agent evaluations: function calling and tool use."""
