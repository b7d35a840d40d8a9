"""Model backends: one file per backend behind the ``ModelBackend`` protocol."""
