"""The model registry: what the dashboard knows about a model beyond its results (organisation, release date,
size, open or closed weights, region and group), read from a YAML file::

    models:
      - name: openai/gpt-4o          # the model id as runs name it
        organisation: OpenAI
        release_date: 2024-05-13
        parameters: 200B             # optional: a number, or a number with K/M/B/T
        access: closed               # open | closed (weights)
        region: overseas             # free text: domestic, overseas, ...
        group: closed-overseas       # optional; default "<access>, <region>"

Errors name the file, the entry and the field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmbt]?)\s*$", re.I)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_FIELDS = {"name", "organisation", "organization", "release_date", "parameters", "access", "region", "group"}


class _Loader(yaml.SafeLoader):
    """Dates stay strings, so that an impossible one (2024-13-01) gets our error naming the entry, not PyYAML's."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class RegistryError(ValueError):
    """The registry file cannot be read; the message names file, entry and field."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    organisation: str = ""
    release_date: dt.date | None = None
    parameters: float | None = None
    access: str = ""
    """``open`` or ``closed`` (weights); empty when not known."""
    region: str = ""
    group: str = ""

    @property
    def parameters_text(self) -> str:
        if self.parameters is None:
            return ""
        for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
            if self.parameters >= scale:
                return f"{self.parameters / scale:g}{suffix}"
        return f"{self.parameters:g}"


UNKNOWN_GROUP = "unregistered"


def unknown(name: str) -> ModelInfo:
    """A model that the registry does not list."""
    return ModelInfo(name=name, group=UNKNOWN_GROUP)


def _parameters(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RegistryError(f"{where}: field 'parameters': expected a number such as 7e9 or 7B, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    try:  # YAML reads 7e9 (no dot) as a string
        return float(str(value))
    except ValueError:
        pass
    match = _SIZE.match(str(value))
    if match is None:
        raise RegistryError(f"{where}: field 'parameters': expected a number such as 7e9 or 7B, got {value!r}")
    return float(match.group(1)) * _SCALE[match.group(2).lower()]


def _date(value: Any, where: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise RegistryError(f"{where}: field 'release_date': expected YYYY-MM-DD, got {value!r}") from None


def _entry(raw: Any, where: str) -> ModelInfo:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: expected a mapping with at least 'name', got {type(raw).__name__}")
    unknown_fields = sorted(set(raw) - _FIELDS)
    if unknown_fields:
        raise RegistryError(
            f"{where}: unknown field(s) {', '.join(map(str, unknown_fields))}; known: {sorted(_FIELDS)}"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(f"{where}: field 'name': a non-empty model id is required")
    access = str(raw.get("access") or "").strip().lower()
    if access not in ("", "open", "closed"):
        raise RegistryError(f"{where}: field 'access': expected open or closed, got {raw.get('access')!r}")
    region = str(raw.get("region") or "").strip()
    group = str(raw.get("group") or "").strip() or ", ".join(x for x in (access, region) if x) or "other"
    return ModelInfo(
        name=name,
        organisation=str(raw.get("organisation") or raw.get("organization") or "").strip(),
        release_date=_date(raw.get("release_date"), where),
        parameters=_parameters(raw.get("parameters"), where),
        access=access,
        region=region,
        group=group,
    )


def parse_registry(raw: Any, source: str) -> dict[str, ModelInfo]:
    """Model id -> its entry, from the parsed YAML of a registry file (``source`` names it in errors)."""
    entries = raw.get("models") if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        raise RegistryError(f"{source}: expected a list of models (or a mapping with a 'models' list)")
    out: dict[str, ModelInfo] = {}
    for i, item in enumerate(entries):
        label = item.get("name") if isinstance(item, dict) else None
        info = _entry(item, f"{source}: models[{i}]" + (f" ({label})" if isinstance(label, str) else ""))
        if info.name in out:
            raise RegistryError(f"{source}: models[{i}]: model {info.name!r} is listed twice")
        out[info.name] = info
    return out


def load_registry(path: Path | str) -> dict[str, ModelInfo]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read the model registry: {exc.strerror or exc}") from None
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise RegistryError(f"{path}:{line} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_registry(raw, str(path))
