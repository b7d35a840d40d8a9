"""Run files: ``tianping run plan.yaml`` reads the models, benchmarks and settings of a run from a YAML plan.

A plan builds the same ``RunSpec`` the command-line flags build, with what flags cannot say: each model has its
own endpoint, key variable, concurrency, timeouts and generation settings. Example (every key but ``models``
and one of ``benchmarks``/``suites`` is optional)::

    run_id: qwen-providers            # names the run; the id of a run that died resumes it
    results_dir: results              # [default: $TIANPING_RESULTS_DIR, else ./results]
    summary_json: out/summary.json    # write the machine-readable summary here

    models:
      - id: openai/qwen2.5-7b-instruct            # backend/name, as --model takes it
        base_url: http://10.0.0.5:8000/v1
        api_key_env: PROVIDER_A_KEY               # the NAME of the variable that holds the key
        concurrency: 64
        timeout_s: 300
        max_retries: 6
        rpm: 600
        stream: true
      - backend: openai                           # the same as id: openai/qwen2.5-7b-instruct
        name: qwen2.5-7b-instruct
        base_url: https://api.provider-b.example/v1
        api_key_env: PROVIDER_B_KEY
        generation: {max_tokens: 2048}            # over settings.generation, for this model only
      - id: openai/qwen2.5-7b-instruct
        label: sampled                            # id ...@sampled; still asks for qwen2.5-7b-instruct
        base_url: http://10.0.0.5:8000/v1
        api_key_env: PROVIDER_A_KEY
        generation: {temperature: 0.7, seed: 1}
      - id: hf/checkpoints/my-model               # a local checkpoint folder
        dtype: bfloat16
        device: cuda:0
        batch_size: 32

    benchmarks: [gsm8k, mmlu, defs/my_benchmark.yaml]
    suites: [safety]

    settings:
      data_dir: ../datasets                       # [default: $TIANPING_DATA_DIR, else ~/.cache/tianping/datasets]
      limit: 200
      limit_mode: per-subject                     # spread (default), first or per-subject
      limits: {gsm8k: 500}                        # per benchmark, over limit
      items: {mmlu: [abstract_algebra/0, anatomy/3]}  # per benchmark: exactly these sample ids, no limit
      mode: generate                              # or loglikelihood (hf/ and ref/ models only)
      modes: {}                                   # per benchmark, over mode
      generation: {temperature: 0, max_tokens: 1024, seed: 1234}
      use_cache: true
      unsafe_exec: false
      allow_outside_data: false
      judge: {id: openai/judge-model, base_url: http://10.0.0.9:8000/v1, api_key_env: JUDGE_KEY}
      judge_preset: tianping
      attacker: {id: openai/attacker-model, base_url: http://10.0.0.9:8000/v1, api_key_env: JUDGE_KEY}
      safety: {budget: 500, langs: [en, zh], attacks: [baseline, roleplay]}

Models. An entry names its model with ``id: <backend>/<name>`` or with ``backend:`` and ``name:``, and takes
every setting of :class:`tianping.spec.ModelSpec`: ``base_url`` (required for ``openai``), ``api_key_env``,
``concurrency``, ``timeout_s``, ``max_retries``, ``rpm``, ``stream``, ``max_reply_mb``, ``served_name``,
``generation`` (``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``, ``n``) and, for local models
(``hf/<folder>``, ``ref/<name>``), ``device``, ``dtype``, ``batch_size``, ``chat_template`` and ``max_length``.
A key is never written in a plan (plans are shared): ``api_key:`` is refused; ``api_key_env`` names the
environment variable that holds it. ``${VAR}`` is not expanded anywhere.

Two endpoints of one model are two models. When entries share an id but not an endpoint, each id gets
``@host:port`` of its endpoint appended (``openai/qwen@10.0.0.5:8000``), and every one still asks for ``qwen``
(``served_name``). ``label: NAME`` appends ``@NAME`` instead, which also lets one endpoint be evaluated twice
(e.g. with other generation settings); the same model at the same endpoint twice without labels is refused.

Generation settings compose: a benchmark's own, then ``settings.generation``, then the model's ``generation``
(:meth:`tianping.spec.RunSpec.params_for`).

Benchmarks are bundled names or definition files; ``suites`` are expanded into their tasks. Relative paths
(definition files, ``hf/`` and ``vllm/`` folders, ``data_dir``, ``results_dir``, ``summary_json``) are relative
to the plan's folder; a model name of the shape ``owner/name`` that is no folder there is a hub id.
``settings`` takes every run-level field of :class:`tianping.spec.RunSpec`; the keys of ``limits`` and
``modes`` name benchmarks of the plan, and ``safety`` needs a safety task. YAML anchors and ``<<:`` merges may
share settings between entries. A key that is not known anywhere is an error; errors name the file, line and
field (``plan.yaml:12: models[1].base_url: ...``), all of them at once.
"""

from __future__ import annotations

import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from tianping.core.items import check_ids
from tianping.core.limits import MIB
from tianping.core.suggest import nearest, unknown_field, unknown_key
from tianping.spec import ModelSpec, RunSpec, check_run_id, default_data_dir

MAX_PLAN_BYTES = MIB
"""Largest plan file read."""
MAX_NODES = 100_000
"""Most YAML nodes a plan may hold, aliases counted as often as they are used (no "billion laughs")."""
MAX_DEPTH = 32

Loc = tuple[str | int, ...]

TOP_KEYS = ("run_id", "results_dir", "summary_json", "models", "benchmarks", "suites", "settings")
ENTRY_KEYS = ("backend", "name", "label")
"""Keys of a model entry besides ``ModelSpec``'s fields."""
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_SECRET_KEY = re.compile(
    r"^(api[-_ ]?key|key|secret[-_]?key|token|access[-_]?token|auth|authorization|bearer|secret|password|passwd)$",
    re.IGNORECASE,
)
_ENV_REF = re.compile(r"\$\{?[A-Za-z_]")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class PlanError(ValueError):
    """A plan that cannot be run: every problem found, one a line (``FILE:LINE: FIELD: message``)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class RunPlan:
    """A loaded plan: the run's spec and the run-level settings a command needs besides it."""

    path: Path
    """The plan file (absolute); relative paths in it were read against its folder."""
    spec: RunSpec
    """Suites already expanded into ``spec.benchmarks``; definition paths, ``hf/`` folders and ``data_dir``
    absolute."""
    suites: tuple[str, ...] = ()
    """The suite names as the plan gives them (their tasks are in ``spec.benchmarks``)."""
    run_id: str | None = None
    results_dir: Path | None = None
    summary_json: Path | None = None
    model_lines: tuple[int | None, ...] = field(default=(), repr=False)
    """The line of each of ``spec.models`` in the plan, for messages about a model."""
    item_lines: dict[str, int | None] = field(default_factory=dict, repr=False)
    """The line of each benchmark's list in ``settings.items``, for messages about an id its data lacks."""


def load_plan(path: Path) -> RunPlan:
    """Read, check and resolve the plan at ``path``; a :class:`PlanError` lists every problem found."""
    name = str(path)
    data, lines = _read(path, name)
    return _Builder(name, path.expanduser().absolute().parent, lines).build(data, path.expanduser().absolute())


# -- reading ------------------------------------------------------------------------------------------------


def _read(path: Path, name: str) -> tuple[Any, dict[Loc, int]]:
    """The plan's data, and the line of every key and list item in it."""
    try:
        if not path.expanduser().is_file():
            what = "is not a file" if path.expanduser().exists() else "does not exist"
            raise PlanError([f"{name}: the plan file {what}"])
        with path.expanduser().open("rb") as f:
            raw = f.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise PlanError([f"{name}: cannot read the plan: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanError([f"{name}: the plan is larger than {MAX_PLAN_BYTES // MIB} MiB"])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanError([f"{name}: the plan is not UTF-8 text (byte {exc.start})"]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        if node is not None:
            _Lines(name, lines).walk(node, (), 0)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = exc.problem or exc.context or "cannot be read"
        raise PlanError([f"{where}: not valid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise PlanError([f"{name}: not valid YAML: {exc}"]) from None
    except RecursionError:
        raise PlanError([f"{name}: the plan is nested too deeply"]) from None
    finally:
        loader.dispose()
    return data, lines


class _Lines:
    """Walks the composed YAML, recording the line of every key and item; refuses duplicate keys, deep nesting
    and aliases that expand too far."""

    def __init__(self, name: str, lines: dict[Loc, int]):
        self.name = name
        self.lines = lines
        self.nodes = 0

    def walk(self, node: yaml.Node, loc: Loc, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise PlanError([f"{self.name}: the plan has more than {MAX_NODES} values (aliases expanding too far?)"])
        if depth > MAX_DEPTH:
            line = node.start_mark.line + 1
            raise PlanError([f"{self.name}:{line}: {_render(loc)}: nested more than {MAX_DEPTH} levels deep"])
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[(*loc, i)] = item.start_mark.line + 1
                self.walk(item, (*loc, i), depth + 1)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            merges: list[yaml.Node] = []
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    merges.append(value)
                    continue
                text = key.value if isinstance(key, yaml.ScalarNode) else "?"
                line = key.start_mark.line + 1
                if text in seen:
                    raise PlanError(
                        [f"{self.name}:{line}: {_render((*loc, text))}: duplicate key (first on line {seen[text]})"]
                    )
                seen[text] = line
                self.lines[(*loc, text)] = line
                self.walk(value, (*loc, text), depth + 1)
            for merged in merges:  # ``<<: *defaults``: keys given in the mapping itself win
                for source in merged.value if isinstance(merged, yaml.SequenceNode) else [merged]:
                    if not isinstance(source, yaml.MappingNode):
                        continue
                    for key, value in source.value:
                        if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG and key.value not in seen:
                            seen[key.value] = key.start_mark.line + 1
                            self.lines[(*loc, key.value)] = seen[key.value]
                            self.walk(value, (*loc, key.value), depth + 1)


def _render(loc: Loc) -> str:
    """``("models", 1, "base_url")`` -> ``models[1].base_url``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


# -- building -----------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, name: str, folder: Path, lines: dict[Loc, int]):
        self.name = name
        self.folder = folder
        self.lines = lines
        self.problems: list[str] = []
        self.problem_lines: list[int] = []
        self.refs: dict[str, str] = {}
        """Benchmark refs as the spec has them (definition paths absolute) -> as the plan gives them."""

    # problems

    def line(self, loc: Loc) -> int | None:
        for n in range(len(loc), 0, -1):
            found = self.lines.get(tuple(p if isinstance(p, int) else str(p) for p in loc[:n]))
            if found is not None:
                return found
        return None

    def add(self, loc: Loc, message: str) -> None:
        line = self.line(loc)
        where = f"{self.name}:{line}" if line is not None else self.name
        field_path = _render(loc)
        self.problems.append(f"{where}: {field_path}: {message}" if field_path else f"{where}: {message}")
        self.problem_lines.append(line or 0)

    def sorted_problems(self) -> list[str]:
        """The problems in the order of the file (those of no line first)."""
        order = sorted(range(len(self.problems)), key=lambda i: self.problem_lines[i])
        return [self.problems[i] for i in order]

    def add_validation(self, exc: ValidationError, prefix: Loc, model: type[BaseModel], rename: Any = None) -> None:
        """Pydantic's errors, each at its place in the plan; ``rename(loc)`` maps a loc of ``model`` to one of the
        plan (None: drop the error)."""
        for err in exc.errors(include_url=False):
            loc: Loc = tuple(err["loc"])
            if rename is not None:
                renamed: Loc | None = rename(loc)
                if renamed is None:
                    continue
                loc = renamed
            if err["type"] == "extra_forbidden":
                message = unknown_field(model, tuple(err["loc"]), "key")
            elif err["type"] == "missing":
                message = "required"
            else:
                message = str(err["msg"]).removeprefix("Value error, ")
            self.add((*prefix, *loc), message)

    def unknown_keys(self, data: dict[Any, Any], loc: Loc, known: typing.Iterable[str], hint: Any = None) -> bool:
        """Report every key of ``data`` not in ``known``; whether there was one."""
        known = list(known)
        bad = False
        for key in data:
            if key in known:
                continue
            bad = True
            extra = hint(key) if hint is not None else None
            self.add((*loc, str(key)), extra or unknown_key(str(key), known))
        return bad

    def path(self, value: str) -> Path:
        """A path from the plan: relative ones are relative to the plan's folder."""
        p = Path(value).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else self.folder / p))

    def path_field(self, data: dict[str, Any], key: str, loc: Loc) -> Path | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.add((*loc, key), "must be a path (a string)")
            return None
        return self.path(value)

    def include_paths(self, settings: dict[str, Any]) -> list[str] | None:
        """``settings.include_paths``, each relative to the plan's folder, imported now."""
        from tianping.core.errors import TaskConfigError
        from tianping.engine.tasks import use_include_paths

        value = settings.get("include_paths")
        if value is None:
            return None
        loc: Loc = ("settings", "include_paths")
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.add(loc, "must be a list of folder paths")
            return []
        folders = [str(self.path(v)) for v in value]
        try:
            use_include_paths(folders)
        except TaskConfigError as exc:
            self.add(loc, str(exc))
            return []
        return folders

    # the plan

    def build(self, data: Any, path: Path) -> RunPlan:
        if data is None:
            raise PlanError([f"{self.name}: the plan is empty: it needs models: and benchmarks: (or suites:)"])
        if not isinstance(data, dict):
            raise PlanError([f"{self.name}: a plan is a mapping with models:, benchmarks: and settings:"])
        settings_fields = [f for f in RunSpec.model_fields if f not in ("models", "benchmarks")]
        self.unknown_keys(
            data,
            (),
            TOP_KEYS,
            lambda k: f"unknown key; {k} belongs under settings:" if k in settings_fields else None,
        )

        run_id = data.get("run_id")
        if run_id is not None:
            try:
                check_run_id(run_id if isinstance(run_id, str) else str(run_id))
            except ValueError as exc:
                self.add(("run_id",), str(exc))
                run_id = None
            else:
                run_id = str(run_id)
        results_dir = self.path_field(data, "results_dir", ())
        summary_json = self.path_field(data, "summary_json", ())

        settings = data.get("settings")
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            self.add(("settings",), "must be a mapping of run settings (limit:, data_dir:, generation: ...)")
            settings = {}
        # plugins before models and benchmarks: they may provide a backend or a task the plan names
        plugins = self.include_paths(settings)
        models = self.models(data)
        benchmarks, suites = self.benchmarks(data)
        run = self.settings(settings, settings_fields, benchmarks)
        if plugins is not None:
            run["include_paths"] = plugins

        # the spec, validated even where models or benchmarks failed (placeholders), to report every problem
        placeholder = models is None or benchmarks is None
        specs = [m for m, _ in models] if models else [ModelSpec.model_validate({"id": "ref/placeholder"})]
        try:
            spec = RunSpec.model_validate(
                {
                    **run,
                    "models": specs,
                    "benchmarks": benchmarks or ["placeholder"],
                }
            )
        except ValidationError as exc:
            self.add_validation(exc, (), RunSpec, lambda loc: self.settings_loc(loc, placeholder))
            spec = None
        if self.problems or spec is None or models is None:
            raise PlanError(self.sorted_problems())
        return RunPlan(
            path=path,
            spec=spec,
            suites=tuple(suites),
            run_id=run_id,
            results_dir=results_dir,
            summary_json=summary_json,
            model_lines=tuple(self.line(("models", i)) for _, i in models),
            item_lines={name: self.line(("settings", "items", name)) for name in spec.items or {}},
        )

    def settings_loc(self, loc: Loc, placeholder: bool) -> Loc | None:
        """Where an error of the RunSpec lies in the plan."""
        if not loc:
            return ("settings",)
        if loc[0] in ("models", "benchmarks"):
            return None if placeholder else (loc[0],)
        if loc[0] in ("limits", "modes", "items") and len(loc) > 1:
            return ("settings", loc[0], self.refs.get(str(loc[1]), loc[1]), *loc[2:])
        return ("settings", *loc)

    # models

    def models(self, data: dict[str, Any]) -> list[tuple[ModelSpec, int]] | None:
        """``(spec, entry index)`` of every model, with distinct ids; None when one is wrong."""
        entries = data.get("models")
        if entries is None:
            self.add(("models",), "required: the models to evaluate, e.g. [{id: openai/NAME, base_url: URL}]")
            return None
        if not isinstance(entries, list) or not entries:
            self.add(("models",), "must be a non-empty list of model entries (id: or backend: + name:, base_url: ...)")
            return None
        built: list[tuple[ModelSpec, int, bool]] = []
        ok = True
        for i, entry in enumerate(entries):
            one = self.model(entry, ("models", i), helper=False)
            if one is None:
                ok = False
            else:
                built.append((one[0], i, one[1]))
        if not ok:
            return None
        return self.distinct(built)

    def model(self, entry: Any, loc: Loc, helper: bool) -> tuple[ModelSpec, bool] | None:
        """One model entry as a ModelSpec, and whether it has a label; None (and problems) when it is wrong."""
        if not isinstance(entry, dict):
            self.add(loc, "a model entry is a mapping: {id: openai/NAME, base_url: URL, api_key_env: VAR, ...}")
            return None
        bad = False
        for key in entry:
            if isinstance(key, str) and _SECRET_KEY.match(key):
                self.add(
                    (*loc, key),
                    "a literal API key does not belong in a plan (plans get shared): put the key in an environment "
                    "variable and give that variable's name as api_key_env: (e.g. api_key_env: OPENAI_API_KEY)",
                )
                bad = True
        fields = list(ModelSpec.model_fields)
        unknown = {k: v for k, v in entry.items() if not (isinstance(k, str) and _SECRET_KEY.match(k))}
        bad |= self.unknown_keys(unknown, loc, [*fields, *ENTRY_KEYS])
        if helper and "generation" in entry:
            self.add((*loc, "generation"), "not taken by a judge or attacker (their requests are set by the run)")
            bad = True
        data = {k: v for k, v in entry.items() if k in fields}

        # the id: id:, or backend: + name:, then @label; a placeholder checks the other fields of a wrong one
        model_id = self.model_id(entry, loc)
        placeholder = model_id is None
        if model_id is None:
            bad = True
            model_id = "openai/placeholder"
        backend, _, name = model_id.partition("/")
        if backend in ("hf", "vllm") and name and not Path(name).expanduser().is_absolute():
            # a folder beside the plan; a name that is no such folder stays as given (a hub id, owner/name)
            from tianping.models.hf_hub import hub_repo_id

            folder = self.path(name)
            if folder.exists() or hub_repo_id(name) is None:
                name = str(folder)
                model_id = f"{backend}/{name}"
        label = entry.get("label")
        if label is not None:
            if not isinstance(label, str) or not _LABEL.match(label):
                self.add((*loc, "label"), "must be 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter "
                         "or digit")  # fmt: skip
                bad = True
            elif backend in ("hf", "ref", "vllm"):
                self.add((*loc, "label"), f"applies to served models only (a {backend}/ id names the weights)")
                bad = True
            else:
                data.setdefault("served_name", name)
                model_id = f"{model_id}@{label}"
        data["id"] = model_id

        url = data.get("base_url")
        url_refused = isinstance(url, str) and bool(_ENV_REF.search(url))
        if url_refused:
            self.add((*loc, "base_url"), "environment variables are not expanded in a plan: write the URL itself "
                     "(the key goes through api_key_env)")  # fmt: skip
            bad = True
            data.pop("base_url")  # reported; not "required" as well

        def rename(e: Loc) -> Loc | None:
            if e and e[0] == "id":
                return None if placeholder else ("id" if "id" in entry else "backend", *e[1:])
            return None if placeholder and not e else e

        try:
            spec = ModelSpec.model_validate(data)
        except ValidationError as exc:
            self.add_validation(exc, loc, ModelSpec, rename)
            return None
        if spec.backend == "openai" and not spec.base_url and not placeholder and not url_refused:
            self.add((*loc, "base_url"), "required for openai/ models: the API root, e.g. http://127.0.0.1:8000/v1")
            return None
        return None if bad else (spec, label is not None)

    def model_id(self, entry: dict[str, Any], loc: Loc) -> str | None:
        given = {k: entry[k] for k in ("id", "backend", "name") if k in entry}
        for key, value in given.items():
            if not isinstance(value, str) or not value.strip():
                self.add((*loc, key), "must be a non-empty string")
                return None
        if "id" in given:
            if "backend" in given or "name" in given:
                self.add((*loc, "id"), "give either id: BACKEND/NAME or backend: + name:, not both")
                return None
            return str(given["id"])
        if "backend" in given and "name" in given:  # ModelSpec checks the backend (errors at backend:)
            return f"{given['backend']}/{given['name']}"
        missing = "name" if "backend" in given else "backend" if "name" in given else "id"
        self.add((*loc, missing), "required: a model entry names its model with id: BACKEND/NAME (e.g. openai/qwen) "
                 "or with backend: + name:")  # fmt: skip
        return None

    def distinct(self, built: list[tuple[ModelSpec, int, bool]]) -> list[tuple[ModelSpec, int]] | None:
        """Entries sharing an id at different endpoints get ``@host:port`` appended; the same model at the same
        endpoint twice is refused."""
        groups: dict[str, list[tuple[ModelSpec, int, bool]]] = {}
        for item in built:
            groups.setdefault(item[0].id, []).append(item)
        out: dict[int, ModelSpec] = {}
        ok = True
        for model_id, members in groups.items():
            if len(members) == 1:
                out[members[0][1]] = members[0][0]
                continue
            first_spec, first, _ = members[0]
            if first_spec.backend != "openai" or any(labelled for _, _, labelled in members):
                for _, i, _ in members[1:]:
                    self.clash(i, first, model_id)
                ok = False
                continue
            seen: dict[str, tuple[ModelSpec, int]] = {}
            for spec, i, _ in members:
                where = _host_port(spec.base_url or "")
                if where in seen:
                    other, j = seen[where]
                    same = other.endpoint == spec.endpoint
                    what = "the same model at the same endpoint" if same else f"the same model at {where}"
                    self.add(("models", i), f"{what} as models[{j}] (line {self.line(('models', j))}): {model_id} at "
                             f"{spec.endpoint}; remove one, or give each a label: to evaluate it twice")  # fmt: skip
                    ok = False
                    continue
                seen[where] = (spec, i)
                out[i] = ModelSpec.model_validate(
                    {**spec.model_dump(), "id": f"{model_id}@{where}", "served_name": spec.request_name}
                )
        if not ok:
            return None
        ids: dict[str, int] = {}
        for i in sorted(out):
            j = ids.setdefault(out[i].id, i)
            if j != i:
                self.clash(i, j, out[i].id)
                ok = False
        return [(out[i], i) for i in sorted(out)] if ok else None

    def clash(self, i: int, j: int, model_id: str) -> None:
        at = self.line(("models", j))
        where = f"models[{j}]" if at is None else f"models[{j}] (line {at})"
        self.add(("models", i), f"{model_id} is also {where}: give one of them another label: or id:")

    # benchmarks

    def benchmarks(self, data: dict[str, Any]) -> tuple[list[str] | None, list[str]]:
        """The benchmark refs with suites expanded (definition paths absolute), and the suite names."""
        from tianping.benchmarks.errors import unknown_benchmark
        from tianping.benchmarks.registry import is_path
        from tianping.engine.tasks import suites as known_suites

        suite_tasks = known_suites()

        names: list[str] = []
        ok = True
        for key in ("benchmarks", "suites"):
            value = data.get(key)
            if value is None:
                continue
            if not isinstance(value, list):
                self.add((key,), "must be a list, e.g. [gsm8k, mmlu]" if key == "benchmarks" else "must be a list")
                ok = False
                continue
            for i, item in enumerate(value):
                if not isinstance(item, str) or not item.strip():
                    self.add((key, i), "must be a benchmark name or definition path" if key == "benchmarks"
                             else "must be a suite name")  # fmt: skip
                    ok = False
                    continue
                if key == "suites":
                    if item not in suite_tasks:
                        self.add((key, i), str(unknown_benchmark(item, suite_tasks, "suite")))
                        ok = False
                    else:
                        names.extend(t for t in suite_tasks[item] if t not in names)
                    continue
                ref = str(self.path(item)) if is_path(item) else item
                self.refs[ref] = item
                if ref in names:
                    self.add((key, i), f"{item} is listed twice")
                    ok = False
                names.append(ref)
        given = data.get("suites")
        suites = [s for s in given if isinstance(s, str)] if isinstance(given, list) else []
        if ok and not names:
            self.add(("benchmarks",), "nothing to run: give benchmarks: [NAME or definition file] or suites: [safety]")
            return None, suites
        return (names if ok else None), suites

    # settings

    def settings(self, settings: dict[str, Any], fields: list[str], benchmarks: list[str] | None) -> dict[str, Any]:
        """The run-level fields of the RunSpec, from ``settings:`` (paths resolved, judge and attacker built)."""
        from tianping.benchmarks.registry import is_path
        from tianping.safety import TASKS as SAFETY_TASKS

        self.unknown_keys(
            settings,
            ("settings",),
            fields,
            _misplaced_setting,
        )
        run = {k: v for k, v in settings.items() if k in fields}
        loc: Loc = ("settings",)

        if settings.get("data_dir") is None:
            data_dir: Path | None = default_data_dir()
        else:
            data_dir = self.path_field(settings, "data_dir", loc)
        run["data_dir"] = str(data_dir.resolve()) if data_dir is not None else "."

        for role in ("judge", "attacker"):
            if run.get(role) is not None:
                one = self.model(run[role], (*loc, role), helper=True)
                if one is None:  # reported; what depends on it is not checked again
                    run.pop(role)
                    run.pop("judge_preset", None)
                else:
                    run[role] = one[0]
        if settings.get("judge") is None and run.get("judge_preset", "tianping") != "tianping":
            self.add((*loc, "judge_preset"), "needs a judge model (settings.judge: {id: openai/NAME, base_url: URL})")
            run.pop("judge_preset")
        if run.get("limit_mode") == "spread":
            run["limit_mode"] = None

        for key in ("limits", "modes", "items"):
            value = run.get(key)
            if not isinstance(value, dict):
                continue
            resolved: dict[Any, Any] = {}
            for ref, item in value.items():
                name = str(self.path(ref)) if isinstance(ref, str) and is_path(ref) else ref
                if benchmarks is not None and name not in benchmarks:
                    self.add((*loc, key, str(ref)), f"{ref} is not among this plan's benchmarks")
                elif name in SAFETY_TASKS:
                    self.add((*loc, key, str(ref)), "the safety tasks take settings.limit and settings.safety "
                             "(budget), not per-benchmark limits or modes")  # fmt: skip
                if key == "items":  # checked here, so that every problem is reported at its own line, once
                    if benchmarks is None or name not in benchmarks or name in SAFETY_TASKS:
                        continue
                    if name in (run.get("limits") or {}) or run.get("limit") is not None:
                        which = f"limits.{ref}" if name in (run.get("limits") or {}) else "limit"
                        self.add((*loc, key, str(ref)), f"chooses {ref}'s samples by id; {which} cannot be "
                                 "combined with it: drop the limit, or the benchmark's items")  # fmt: skip
                        continue
                    try:
                        item = check_ids(item, f"items.{ref}")
                    except ValueError as exc:
                        self.add((*loc, key, str(ref)), str(exc).split(": ", 1)[-1])
                        continue
                resolved[name] = item
                if isinstance(ref, str):
                    self.refs.setdefault(str(name), ref)
            run[key] = resolved

        safety_tasks = benchmarks is not None and any(b in SAFETY_TASKS for b in benchmarks)
        if run.get("safety") is not None and benchmarks is not None and not safety_tasks:
            self.add((*loc, "safety"), "this plan runs no safety task (add suites: [safety])")
        elif safety_tasks and run.get("safety") is None:
            run["safety"] = {}  # as the command line does: the suite's defaults, stored with the run
        return run


def _host_port(url: str) -> str:
    """``host:port`` of an endpoint (the scheme's default port spelled out), without credentials or path."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


def _misplaced_setting(key: str) -> str | None:
    """Where a key given under ``settings:`` belongs, when it is (or is a typo of) a key of another part of the
    plan; None when it is none of them (the settings' own message then lists the known keys)."""
    from tianping.spec import GenerationOverrides, ModelSpec

    if key in TOP_KEYS:
        return f"unknown key; {key} belongs at the top level of the plan"
    places = (
        (list(GenerationOverrides.model_fields), "belongs under settings: generation: (or a model's generation:)"),
        ([f for f in ModelSpec.model_fields if f != "generation"], "is set per model: models: [{id: ..., KEY: ...}]"),
    )
    for fields, where in places:
        if key in fields:
            return f"unknown key; {key} {where.replace('KEY', key)}"
    for fields, where in places:
        near = nearest(key, fields, n=1)
        if near:
            return f"unknown key; did you mean {near[0]}? It {where.replace('KEY', near[0])}"
    return None
