"""Prompt templates of benchmark definitions: compiled and rendered in a Jinja2 sandbox.

A definition file is shared like data, so its templates are untrusted. They render in an
``ImmutableSandboxedEnvironment``: no private or dunder attributes (the way out to ``os`` and
``subprocess``), and no method that changes a list, dict or set (samples are shared between
requests). The other settings are lm-evaluation-harness's own (no autoescaping, trailing newline
kept), so the sandbox changes no rendered byte.

A refused template is a ``BenchmarkDefinitionError`` naming the file and the field; a row the
template cannot render is a ``DatasetError`` naming the sample and its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError
from tianping.core import Sample

ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)

_UNDEFINED = re.compile(r"'(?P<name>[^']+)' is undefined")  # StrictUndefined's message for a missing name


@dataclass(frozen=True)
class Template:
    """One compiled template field and the variables it reads from the sample."""

    template: jinja2.Template
    source: str
    """The definition file (and variant) it comes from, for messages."""
    where: str
    """Its field in the definition, e.g. ``prompt.question`` or ``loglikelihood.gold``."""
    names: frozenset[str]
    """Variables it looks up in the sample, globals (``range``, ``namespace``, ...) aside."""
    static: str | None = None
    """The rendered text of a template that is plain text (no expression, tag or call), the same for every
    sample: rendered once here instead of once per request."""
    pieces: tuple[tuple[bool, str], ...] | None = None
    """A template of text and bare variables only (``Question: {{ question }}``) as (is a variable, text) pieces:
    rendered by joining them, as Jinja2's compiled code does (``str`` of each value), without building a Jinja2
    context per request. None for anything else."""


_PLAIN = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const)
"""Nodes of a template whose text cannot depend on the sample or on chance. Only these: a template reading no
variable may still call ``lipsum()`` or filter through ``random``, which differ from one render to the next."""


def compile_template(text: str, source: str, where: str) -> Template:
    """Parse and compile one template field; a syntax error or a private attribute is refused now."""
    try:
        tree = ENV.parse(text)
        _refuse_private_names(tree)
        compiled = ENV.from_string(tree)
        static = compiled.render() if all(isinstance(n, _PLAIN) for n in _all_nodes(tree)) else None
        names = frozenset(meta.find_undeclared_variables(tree))
        return Template(compiled, source, where, names, static, _pieces(tree) if static is None else None)
    except SecurityError as exc:
        raise BenchmarkDefinitionError(f"{source}: field '{where}': template not allowed: {exc}") from None
    except jinja2.TemplateSyntaxError as exc:
        message = f"{source}: field '{where}': template error line {exc.lineno}: {exc.message}"
        raise BenchmarkDefinitionError(message) from None


_SPECIAL_NAMES = frozenset({"self", "loop", "caller", "varargs", "kwargs", "super"})
"""Names Jinja2 may bind itself rather than look up in the sample."""


def _pieces(tree: nodes.Template) -> tuple[tuple[bool, str], ...] | None:
    pieces: list[tuple[bool, str]] = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            if type(node) is nodes.TemplateData:
                pieces.append((False, node.data))
            elif type(node) is nodes.Name and node.ctx == "load" and node.name not in _SPECIAL_NAMES:
                pieces.append((True, node.name))
            else:
                return None
    return tuple(pieces)


def _joined(t: Template, sample: Sample) -> str | None:
    """The ``pieces`` of ``t`` joined with the sample's values; None where Jinja2 itself must decide (a variable
    the sample lacks, which Jinja2 reports or finds among its globals; a value whose ``str`` fails)."""
    assert t.pieces is not None
    fields = sample.fields
    out: list[str] = []
    try:
        for is_name, text in t.pieces:
            if not is_name:
                out.append(text)
            elif text == "target":  # as in render(): the target wins over a field of that name
                out.append(str(sample.target))
            elif text in fields:
                out.append(str(fields[text]))
            else:
                return None
    except Exception:  # noqa: BLE001 - the full render below raises it again, with the row's location
        return None
    return "".join(out)


def _all_nodes(tree: nodes.Template) -> Iterator[nodes.Node]:
    yield tree
    yield from tree.find_all(nodes.Node)


def _refuse_private_names(tree: nodes.Template) -> None:
    """Refuse private attributes named in the template itself.

    The sandbox refuses them when rendering, but only on the branch a row takes, and ``|attr`` chains
    (``x|attr('__init__')|attr('__globals__')``) come out as a plain undefined value there rather than
    as a refusal. Names computed from the data are left to the sandbox."""
    named: list[nodes.Node] = list(tree.find_all(nodes.Getattr))
    for node in tree.find_all(nodes.Filter):
        if node.name == "attr" and node.args:
            named.append(node.args[0])
        named.extend(kw.value for kw in node.kwargs if kw.key == "attribute")  # map, sort, groupby, sum, ...
    for node in named:
        if isinstance(node, nodes.Getattr):
            name: object = node.attr
        else:
            try:
                name = node.as_const(nodes.EvalContext(ENV))
            except Exception:  # not a constant (Impossible), or one that fails: the sandbox decides
                continue
        if isinstance(name, str) and any(part.startswith("_") for part in name.split(".")):
            raise SecurityError(f"access to attribute '{name}' is unsafe")


def location(sample: Sample) -> str:
    """``sample ID (FILE:LINE)``: where a row came from, for messages."""
    file, line = sample.meta.get("file"), sample.meta.get("line")
    if line is None and "index" in sample.meta:
        return f"sample {sample.id} ({file}, item {sample.meta['index']})"
    return f"sample {sample.id} ({file}:{line})"


def render(t: Template, sample: Sample) -> str:
    """The template rendered with a sample's fields and its ``target``."""
    if t.static is not None:
        return t.static
    if t.pieces is not None:
        joined = _joined(t, sample)
        if joined is not None:
            return joined
    try:
        return t.template.render({**sample.fields, "target": sample.target})
    except Exception as exc:
        raise _error(t, sample, exc) from None


def _error(t: Template, sample: Sample, exc: Exception) -> Exception:
    if isinstance(exc, SecurityError):  # the definition's fault, whatever the row
        return BenchmarkDefinitionError(f"{t.source}: field '{t.where}': template not allowed: {exc}")
    if isinstance(exc, jinja2.UndefinedError):
        return DatasetError(f"{location(sample)}: template '{t.where}': {exc}")
    # a method that fails on this row (e.g. list.index of a missing value)
    return DatasetError(f"{location(sample)}: template '{t.where}': {type(exc).__name__}: {exc}")


def check(templates: Iterable[Template | None], samples: Sequence[Sample], what: str = "dataset") -> None:
    """Render each template for the first sample and for every sample lacking one of its variables.

    A variable that no sample has is a typo in the definition (``BenchmarkDefinitionError``); one that
    only some samples lack is a problem of the first such row (``DatasetError``). Rendering, rather than
    comparing names, leaves alone a variable read only under ``{% if x is defined %}``. The other
    samples have every variable the template reads, so they fail, if at all, on values of their own: that
    stays a request-time ``DatasetError`` of the row, and keeps the check to one render per template on
    uniform data (MMLU's 14,042 rows).
    """
    active = [t for t in templates if t is not None]
    if not samples or not active:
        return
    # one pass over the rows for all the templates: on uniform data it finds none lacking
    every = frozenset().union(*(t.names for t in active)) - {"target"}
    lacking = [s for s in samples[1:] if not s.fields.keys() >= every]
    for t in active:
        needed = t.names - {"target"}
        for sample in [samples[0], *(s for s in lacking if not s.fields.keys() >= needed)]:
            try:
                t.template.render({**sample.fields, "target": sample.target})
            except jinja2.UndefinedError as exc:
                hit = _UNDEFINED.fullmatch(exc.message or "")
                name = hit["name"] if hit else None
                if name in needed and not any(name in s.fields for s in samples):
                    fields = ", ".join(sorted({"target"}.union(*(s.fields.keys() for s in samples))))
                    raise BenchmarkDefinitionError(
                        f"{t.source}: field '{t.where}': undefined variable '{name}' (the {what}'s fields: {fields})"
                    ) from None
                raise _error(t, sample, exc) from None
            except Exception as exc:
                raise _error(t, sample, exc) from None
