"""``python -m tianping.agents.mcp.serve ENV_NAME [--seed FILE] [--transport stdio|http] [--host H] [--port N]``:
one of tianping's agent environments as an MCP server, a fresh environment for each client session, empty or in
the state of a seed (a YAML or JSON mapping, as a task's ``seed:``).

Over stdio the server speaks on stdin/stdout (an MCP client starts it as its command); over HTTP it listens on
``http://HOST:PORT/mcp`` (port 0: a free one) and writes ``MCP server: URL`` to stderr once it accepts connections.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tianping.agents.mcp.errors import McpUnavailable
from tianping.agents.mcp.server import ProviderFactory, serve_provider

REGISTRY_MODULE = "tianping.agents.env"
REGISTRY_NAME = "ENVIRONMENTS"
"""``tianping.agents.env.ENVIRONMENTS``: environment name -> a factory of a fresh ``ToolProvider``."""


class UnknownEnvironment(LookupError):
    pass


def environment_factory(name: str, seed: Mapping[str, Any] | None = None) -> ProviderFactory:
    """The factory of a named environment, read from the environments' registry when it is first needed; with a
    seed, each environment starts in its state (checked here, once, by the environment's ``validate_seed``)."""
    try:
        module = importlib.import_module(REGISTRY_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is not None and REGISTRY_MODULE.startswith(exc.name):
            raise UnknownEnvironment(
                f"tianping's agent environments ({REGISTRY_MODULE}) are not in this installation"
            ) from None
        raise
    registry = getattr(module, REGISTRY_NAME, None)
    if not isinstance(registry, Mapping):
        raise UnknownEnvironment(f"{REGISTRY_MODULE} has no {REGISTRY_NAME} registry (name -> provider factory)")
    factory = registry.get(name)
    if factory is None:
        known = ", ".join(sorted(registry)) or "none"
        raise UnknownEnvironment(f"no environment named {name!r} (the environments: {known})")
    if seed is None:
        return factory  # type: ignore[no-any-return]
    validate = getattr(factory, "validate_seed", None)
    if validate is not None:
        validate(seed)
    return lambda: factory(seed)  # type: ignore[no-any-return]


def read_seed(path: str) -> dict[str, Any]:
    """A seed file: one YAML (or JSON) mapping."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"--seed {path}: cannot read it: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"--seed {path}: not valid YAML or JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"--seed {path}: expected a mapping (a task's seed), got {type(data).__name__}")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tianping.agents.mcp.serve", description=__doc__.split("\n")[0])
    parser.add_argument("environment", help="the environment's name")
    parser.add_argument("--seed", metavar="FILE", help="start each session's environment in this state (YAML/JSON)")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP: the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="HTTP: the port (default 0: a free one)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, not {args.port}")
    try:
        seed = read_seed(args.seed) if args.seed is not None else None
        try:
            factory = environment_factory(args.environment, seed)
        except ValueError as exc:  # the environment refused the seed
            raise ValueError(f"--seed {args.seed}: {exc}") from None
    except (UnknownEnvironment, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from tianping import aio

    try:
        aio.run(serve_provider(factory, args.transport, args.host, args.port, name=f"tianping-{args.environment}"))
    except (McpUnavailable, OSError) as exc:  # no SDK; the port is taken
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
