"""Application-level probes: what an app built on a model lets through to its users and its back end."""
