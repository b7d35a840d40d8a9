"""Provider fidelity: is an endpoint that claims a model serving that model, unchanged? See docs/fidelity.md."""
