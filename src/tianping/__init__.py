"""tianping (天平): an open evaluation system for large language models and the services that serve them."""

__version__ = "0.1.0"
