"""``package.module:function`` references: a definition naming Python code outside tianping's registries.

A loader, extractor, metric, scorer or log-likelihood metric may be given as ``module:attribute`` instead of a
registered name. The module must already be importable (installed, or on ``PYTHONPATH``): nothing is fetched,
and no file path is accepted, so a definition can only name code its user has put on the import path. The run
stores the definition's text, so ``resume`` in a fresh process imports the same reference again.

A shared definition is untrusted, so a reference must lead to code written for tianping: a function its author
marked with :func:`extension`. Anything else installed (``shutil:rmtree`` would happily take a dataset path, and
so would many a third-party function) is refused, and so are private names.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from tianping.benchmarks.errors import BenchmarkDefinitionError

_REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


_MARK = "__tianping_extension__"

F = TypeVar("F", bound=Callable[..., Any])


def extension(fn: F) -> F:
    """Mark a function as written for tianping, so that definitions may name it as ``module:function``."""
    setattr(fn, _MARK, True)
    return fn


def is_reference(name: str | None) -> bool:
    """Whether a definition's name is a ``module:attribute`` reference rather than a registered name."""
    return name is not None and ":" in name


def find(reference: str) -> Any:
    """The object a reference names; ``LookupError`` saying why when there is none or it may not be used."""
    if not _REFERENCE.fullmatch(reference):
        raise LookupError("expected 'package.module:function'")
    module_name, _, attribute = reference.partition(":")
    parts = [*module_name.split("."), *attribute.split(".")]
    if any(part.startswith("_") for part in parts):
        raise LookupError("private names may not be referenced")
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise LookupError(f"'{top}' is the standard library, not a plugin")
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise LookupError(f"no module named '{module_name}' (is it installed or on PYTHONPATH?)") from None
        raise LookupError(f"importing '{module_name}' failed: {exc}") from None
    except Exception as exc:  # the plugin's own import-time failure: report it as the definition's problem
        raise LookupError(f"importing '{module_name}' failed: {type(exc).__name__}: {exc}") from None
    for name in attribute.split("."):
        if not hasattr(found, name):
            raise LookupError(f"module '{module_name}' has no attribute '{attribute}'")
        found = getattr(found, name)
    if not callable(found):
        raise LookupError(f"'{attribute}' is not callable")
    if not getattr(found, _MARK, False):
        raise LookupError(
            f"'{attribute}' is not marked as a tianping extension (decorate it with "
            "tianping.benchmarks.references.extension)"
        )
    return found


def resolve_reference(reference: str, source: str, where: str) -> Any:
    """``find`` for a definition: a failure is a ``BenchmarkDefinitionError`` naming the file and field."""
    try:
        return find(reference)
    except LookupError as exc:
        raise BenchmarkDefinitionError(f"{source}: field '{where}': cannot use '{reference}': {exc}") from None
