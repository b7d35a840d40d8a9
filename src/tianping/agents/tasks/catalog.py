"""The multi-step tool tasks, defined as data: one YAML file per environment under ``tasks/data``.

A file::

    environment: files                # which environment (tianping.agents.env.ENVIRONMENTS)
    seeds: {NAME: SEED, ...}          # optional seeds that tasks name instead of repeating them
    tasks:
      - id: files_action_items        # unique across files
        language: en                  # en or zh
        goal: Read notes/meeting.txt and ...
        seed: {files: {...}}          # the starting state, or the name of one of ``seeds``
        budget: {steps: 10, tokens: 40000, invalid_calls: 5}     # optional (defaults: tianping.agents.loop.Budget)
        checks: [{file: summary.txt, equals: "..."}]             # the final state that counts as success
        solution: [{tool: read_file, args: {path: notes/meeting.txt}}, ...]   # a reference solution
    mcp_servers:                      # optional: MCP servers whose tools every task of the file offers too
      - {command: my-mcp-server, args: [--stdio], env: {API_KEY: "${MY_KEY}"}}   # tianping.agents.mcp.config
      - {url: "http://127.0.0.1:8931/mcp", tools: [search]}

The reference solution is not shown to the model: it proves the task can be solved with the tools as specified
(the tests replay it and require every check to pass, and require the seed alone to fail one). A mistake in a file
is reported with the file, the line of the task and the field. A server's tools may not share a name with the
environment's (refused here when the entry lists its ``tools``, else when an episode connects); the checks stay the
environment's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from tianping.agents.env import ENVIRONMENTS, Environment, SpecError
from tianping.agents.loop import Budget
from tianping.agents.mcp.config import McpServerDef
from tianping.core.errors import TaskConfigError

LANGUAGES = ("en", "zh")
DATA_PACKAGE = "tianping.agents.tasks"
_TASK_KEYS = {"id", "language", "goal", "seed", "budget", "checks", "solution"}
_REQUIRED = {"id", "language", "goal", "checks", "solution"}


@dataclass(frozen=True)
class AgentItem:
    id: str
    environment: str
    language: str
    goal: str
    seed: Mapping[str, Any]
    budget: Budget
    checks: tuple[Mapping[str, Any], ...]
    solution: tuple[tuple[str, Mapping[str, Any]], ...]
    """(tool, arguments) calls that solve the task: for tests and for the reader, never sent to the model."""
    source: str
    """``file:line`` of the task's definition."""


@dataclass(frozen=True)
class Catalog:
    environment: str
    items: tuple[AgentItem, ...]
    checksum: str
    mcp_servers: tuple[McpServerDef, ...] = ()
    """Servers whose tools are offered beside the environment's in every task of the file."""


def data_files() -> dict[str, str]:
    """Environment name -> text of its task file, read from the installed package."""
    folder = resources.files(DATA_PACKAGE) / "data"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            out[entry.name.removesuffix(".yaml")] = entry.read_text(encoding="utf-8")
    return out


@cache
def catalogs() -> dict[str, Catalog]:
    """Every environment's tasks, checked; ids unique across files."""
    out: dict[str, Catalog] = {}
    seen: dict[str, str] = {}
    for stem, text in data_files().items():
        catalog = parse_catalog(text, f"{stem}.yaml")
        for item in catalog.items:
            if item.id in seen:
                raise TaskConfigError(f"{item.source}: task id {item.id!r} is also defined at {seen[item.id]}")
            seen[item.id] = item.source
        out[catalog.environment] = catalog
    return out


def parse_catalog(text: str, source: str) -> Catalog:
    """The tasks of one file; ``TaskConfigError`` naming file, line and field for anything wrong."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaskConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise TaskConfigError(f"{source}: expected a mapping with environment and a list of tasks")
    unknown = set(data) - {"environment", "seeds", "tasks", "mcp_servers"}
    if unknown:
        first = sorted(unknown)[0]
        raise TaskConfigError(f"{_at(root, source, first)}: unknown top-level keys {sorted(unknown)}")
    environment = data.get("environment")
    if environment not in ENVIRONMENTS:
        raise TaskConfigError(f"{source}: environment: {environment!r} is not one of {', '.join(ENVIRONMENTS)}")
    seeds = data.get("seeds") or {}
    if not isinstance(seeds, dict):
        raise TaskConfigError(f"{_at(root, source, 'seeds')}: seeds: must map names to seeds")
    servers = _servers(data.get("mcp_servers"), environment, root, source)
    lines = _list_lines(root, "tasks")
    items = []
    ids: set[str] = set()
    for index, raw in enumerate(data["tasks"]):
        where = f"{source}:{lines[index] if index < len(lines) else '?'}"
        try:
            item = _item(raw, environment, seeds, where)
        except SpecError as exc:
            name = raw.get("id") if isinstance(raw, dict) else None
            raise TaskConfigError(f"{where}: task {name or index}: {exc}") from None
        if item.id in ids:
            raise TaskConfigError(f"{where}: task id {item.id!r} appears twice")
        ids.add(item.id)
        items.append(item)
    if not items:
        raise TaskConfigError(f"{source}: tasks: the list is empty")
    return Catalog(environment, tuple(items), hashlib.sha256(text.encode("utf-8")).hexdigest(), servers)


def _servers(raw: Any, environment: str, root: yaml.Node | None, source: str) -> tuple[McpServerDef, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise TaskConfigError(f"{_at(root, source, 'mcp_servers')}: mcp_servers: must be a non-empty list of servers")
    lines = _list_lines(root, "mcp_servers")
    own = {spec.name: f"the {environment} environment" for spec in ENVIRONMENTS[environment].TOOLS}
    out = []
    for i, entry in enumerate(raw):
        where = f"{source}:{lines[i] if i < len(lines) else '?'}: mcp_servers[{i}]"
        server = McpServerDef.parse(entry, where)
        for name in server.tools or ():  # names known now are checked now; the rest when an episode connects
            if name in own:
                raise TaskConfigError(f"{where}: field 'tools': {name!r} is also a tool of {own[name]}")
            own[name] = f"mcp_servers[{i}]"
        out.append(server)
    return tuple(out)


def _at(root: yaml.Node | None, source: str, key: str) -> str:
    """``file:line`` of a top-level key, or the file alone when it cannot be found."""
    if isinstance(root, yaml.MappingNode):
        for node, _ in root.value:
            if getattr(node, "value", None) == key:
                return f"{source}:{node.start_mark.line + 1}"
    return source


def _list_lines(root: yaml.Node | None, field: str) -> list[int]:
    """The line of each entry of a top-level list (1-based), for error messages."""
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == field and isinstance(value, yaml.SequenceNode):
            return [node.start_mark.line + 1 for node in value.value]
    return []


def _item(raw: Any, environment: str, seeds: Mapping[str, Any], where: str) -> AgentItem:
    if not isinstance(raw, dict):
        raise SpecError("task", "must be a mapping")
    unknown = set(raw) - _TASK_KEYS
    if unknown:
        raise SpecError(sorted(unknown)[0], f"unknown field (fields: {', '.join(sorted(_TASK_KEYS))})")
    missing = _REQUIRED - set(raw)
    if missing:
        raise SpecError(sorted(missing)[0], "required")
    ident = raw["id"]
    if not isinstance(ident, str) or not ident.replace("_", "").isalnum() or not ident.isascii():
        raise SpecError("id", "must be letters, digits and _")
    if raw["language"] not in LANGUAGES:
        raise SpecError("language", f"must be one of {', '.join(LANGUAGES)}")
    if not isinstance(raw["goal"], str) or not raw["goal"].strip():
        raise SpecError("goal", "must be a non-empty text")
    kind = ENVIRONMENTS[environment]
    seed = raw.get("seed") or {}
    if isinstance(seed, str):
        if seed not in seeds:
            raise SpecError("seed", f"names no seed of the file (seeds: {', '.join(seeds) or 'none'})")
        seed = seeds[seed]
    if not isinstance(seed, dict):
        raise SpecError("seed", "must be a mapping or the name of one of the file's seeds")
    kind.validate_seed(seed)
    checks = raw["checks"]
    if not isinstance(checks, list) or not checks or not all(isinstance(c, dict) for c in checks):
        raise SpecError("checks", "must be a non-empty list of mappings")
    for check in checks:
        kind.validate_check(check)
    return AgentItem(
        id=ident,
        environment=environment,
        language=raw["language"],
        goal=raw["goal"].strip(),
        seed=seed,
        budget=_budget(raw.get("budget")),
        checks=tuple(checks),
        solution=_solution(raw["solution"], kind),
        source=where,
    )


def _budget(raw: Any) -> Budget:
    if raw is None:
        return Budget()
    if not isinstance(raw, dict) or set(raw) - {"steps", "tokens", "invalid_calls"}:
        raise SpecError("budget", "takes steps, tokens and invalid_calls")
    for key, value in raw.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(f"budget.{key}", "must be a positive integer")
    return Budget(**raw)


def _solution(raw: Any, kind: type[Environment]) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError("solution", "must be a non-empty list of {tool, args}")
    names = {spec.name for spec in kind.TOOLS}
    out = []
    for i, step in enumerate(raw):
        if not isinstance(step, dict) or set(step) - {"tool", "args"} or step.get("tool") not in names:
            raise SpecError(f"solution[{i}]", f"must be {{tool, args}} with tool one of {', '.join(sorted(names))}")
        args = step.get("args") or {}
        if not isinstance(args, dict):
            raise SpecError(f"solution[{i}].args", "must be a mapping")
        out.append((step["tool"], args))
    return tuple(out)
