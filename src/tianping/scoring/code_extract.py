"""Pull the Python program out of a model's answer, and strip what would run on import.

Chat models answer with prose around Markdown code fences, often several of them (the solution,
an example run, the expected output). ``extract_code`` picks the block that defines the function
under test, else the first Python block, else the whole answer when it is bare code; it returns
None when there is no code at all and never raises, whatever the text.

``strip_top_level_calls`` then removes what the answer added for demonstration (``print(f(3))``,
``assert f(1) == 2``, an ``if __name__ == "__main__":`` block), so that example code cannot fail
(or hang on ``input()``) before the tests run, much as evalplus's sanitiser keeps definitions only.
"""

from __future__ import annotations

import ast
import re
import textwrap
import warnings
from dataclasses import dataclass

__all__ = ["CodeBlock", "defines", "extract_code", "find_blocks", "parses", "strip_top_level_calls"]

PYTHON_TAGS = frozenset({"python", "py", "python3", "py3", "python2", "ipython", "pycon", "sage"})
"""Info strings of a fence taken as Python (lower-cased, first word); an empty one counts too."""

# An opening fence: up to any indentation, three or more backticks or tildes, an optional info string.
_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")


@dataclass(frozen=True)
class CodeBlock:
    lang: str
    """The first word of the info string, lower-cased (``""`` when there is none)."""
    code: str
    closed: bool
    """False when the answer ended inside the block (a cut-off generation)."""

    @property
    def is_python(self) -> bool:
        return self.lang in PYTHON_TAGS or self.lang == ""


def find_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block of ``text`` in order; an unclosed last block runs to the end of the text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[CodeBlock] = []
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening["fence"]
        info = opening["info"].strip()
        lang = info.split()[0].lower().lstrip("{.").rstrip("}") if info else ""
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            body.append(lines[j])
            j += 1
        code = textwrap.dedent("\n".join(body)).strip("\n")
        blocks.append(CodeBlock(lang=lang, code=code, closed=j < len(lines)))
        i = j + 1
    return blocks


def _parse(code: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():  # invalid escape sequences in model code are not our concern
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # ValueError: NUL bytes; RecursionError / MemoryError: absurdly nested input
        return None


def parses(code: str) -> bool:
    return _parse(code) is not None


def defines(code: str, name: str) -> bool:
    """Whether ``code`` parses and binds ``name`` at the top level (a def, class or assignment)."""
    tree = _parse(code)
    return tree is not None and name in _top_level_names(tree)


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _looks_like_code(tree: ast.Module) -> bool:
    """More than a bare name or constant: a single word of prose parses as Python too."""
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Name | ast.Constant):
            continue
        return True
    return False


def _loads(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _with_dependencies(chosen: str, others: list[str]) -> str:
    """``chosen`` preceded by the imports and top-level definitions of ``others`` that it uses but lacks.

    An answer sometimes puts a helper (or the imports) in one block and the function in the next.
    Helpers pulled in may need further names; those are followed too. Pulled statements keep the
    order they had in the answer.
    """
    tree = _parse(chosen)
    if tree is None:
        return chosen
    have = _top_level_names(tree)
    # (block index, statement index) -> (names it binds, names it loads, source)
    pool: dict[tuple[int, int], tuple[set[str], set[str], str]] = {}
    for b, other in enumerate(others):
        other_tree = _parse(other)
        if other_tree is None:
            continue
        for s, node in enumerate(other_tree.body):
            if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound = _top_level_names(ast.Module(body=[node], type_ignores=[]))
                pool[(b, s)] = (bound, _loads(node), _segment(other, node))
    needed = _loads(tree) - have
    taken: set[tuple[int, int]] = set()
    while needed:
        found = next((key for key, (bound, _, _) in pool.items() if key not in taken and bound & needed), None)
        if found is None:
            break
        taken.add(found)
        bound, loads, _ = pool[found]
        have |= bound
        needed = (needed | loads) - have
    if not taken:
        return chosen
    return "\n\n".join([*(pool[key][2] for key in sorted(taken)), chosen])


def _segment(code: str, node: ast.stmt) -> str:
    """The source lines of a top-level statement, decorators included."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    last = node.end_lineno if node.end_lineno is not None else node.lineno
    return "\n".join(code.split("\n")[first - 1 : last])


_CODE_START = re.compile(r"^(?:def |async def |class |import |from \S+ import |@)")
_CODE_LINE = re.compile(
    r"^(?:[ \t]|$|#|def |async def |class |import |from \S+ import |@|"
    r"(?:if|elif|else|for|while|try|except|finally|with|return|raise|assert|print)\b|"
    r"[A-Za-z_][\w.]*(?:\[[^\]]*\])?\s*(?:[-+*/%|&^]?=[^=]|\())"
)


def _longest_code_span(text: str, entry_point: str | None) -> str | None:
    """Unfenced code inside prose: the longest parseable run of code-like lines from a ``def``/``import``.

    Only runs that define ``entry_point`` (or, without one, some function or class) count. Linear
    in the text: each run ends at the first line that reads as prose.
    """
    lines = text.split("\n")
    best: str | None = None
    i = 0
    while i < len(lines):
        if not _CODE_START.match(lines[i]):
            i += 1
            continue
        end = i + 1
        while end < len(lines) and _CODE_LINE.match(lines[end]):
            end += 1
        for stop in range(end, max(i, end - 20), -1):  # trailing lines may be prose that looked like code
            candidate = "\n".join(lines[i:stop]).rstrip()
            tree = _parse(candidate)
            if tree is None:
                continue
            if entry_point:
                wanted = entry_point in _top_level_names(tree)
            else:
                wanted = any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in tree.body)
            if wanted and (best is None or candidate.count("\n") > best.count("\n")):
                best = candidate
            break
        i = end
    return best


def extract_code(text: str, entry_point: str | None = None) -> str | None:
    """The Python program in a model's answer, or None when it holds none.

    Order of preference: the fenced Python (or untagged) block that defines ``entry_point``, with
    definitions it uses from the answer's other blocks; the first Python-tagged block; the first
    untagged block that parses; the whole text (dedented) when it parses and is more than a bare
    word; else, with no fences at all, the longest run of lines starting at a ``def``/``import``
    that parses and defines ``entry_point`` (or some function). Plain prose gives None.
    """
    try:
        return _extract(text, entry_point)
    except Exception:  # a pathological answer is a missing answer, never a crash of the scorer
        return None


def _extract(text: str, entry_point: str | None) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    blocks = [b for b in find_blocks(text) if b.is_python and b.code.strip()]
    if blocks:
        if entry_point:
            for index, block in enumerate(blocks):
                if defines(block.code, entry_point):
                    others = [b.code for k, b in enumerate(blocks) if k != index]
                    return _with_dependencies(block.code, others)
        tagged = [b for b in blocks if b.lang]
        if tagged:
            return tagged[0].code
        for block in blocks:
            if parses(block.code):
                return block.code
        return blocks[0].code
    if "```" in text or "~~~" in text:  # fences of other languages only (```text, ```bash ...)
        return None
    for candidate in (text.strip("\n"), textwrap.dedent(text).strip("\n")):
        tree = _parse(candidate)
        if tree is not None and _looks_like_code(tree):
            return candidate
    return _longest_code_span(text, entry_point)


_DEMO_CALLS = frozenset({"print", "input", "help", "exit", "quit"})
_DEMO_MODULES = frozenset({"doctest", "unittest", "pytest", "sys"})


def _is_demonstration(node: ast.stmt, defined: set[str]) -> bool:
    """A top-level statement that only shows the solution off: prints, example asserts and calls, a main block.

    Calls that set the program up (``sys.setrecursionlimit(10**6)``, ``random.seed(0)``) are kept;
    calls of the answer's own functions, ``print``/``input``, ``doctest.testmod()`` and ``sys.exit()`` are not.
    """
    if isinstance(node, ast.Assert) or _is_main_guard(node):
        return True
    if not isinstance(node, ast.Expr):
        return False
    value = node.value
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return True  # a bare comparison, name or constant: no effect but a possible error
    func = value.func
    if isinstance(func, ast.Name):
        return func.id in _DEMO_CALLS or func.id in defined
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id == "sys":
            return func.attr == "exit"
        return func.value.id in _DEMO_MODULES or func.value.id in defined
    return False


def strip_top_level_calls(code: str) -> str:
    """``code`` without its top-level demonstration statements (see ``_is_demonstration``).

    Definitions, imports, assignments and set-up calls are kept in their original text. Code that
    does not parse is returned unchanged (its syntax error is then what the run reports).
    """
    code = code.replace("\r\n", "\n").replace("\r", "\n")
    tree = _parse(code)
    if tree is None:
        return code
    defined = _top_level_names(tree)
    drop: list[tuple[int, int]] = []
    for index, node in enumerate(tree.body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a module docstring is harmless
        if _is_demonstration(node, defined):
            end = node.end_lineno if node.end_lineno is not None else node.lineno
            drop.append((node.lineno, end))
    if not drop:
        return code
    # a statement sharing a line with another (``x = 1; print(x)``) is rare: keep such code unchanged
    starts = [n.lineno for n in tree.body]
    ends = [n.end_lineno for n in tree.body]
    if len(set(starts)) != len(starts) or len(set(ends)) != len(ends):
        return code
    removed = {line for first, last in drop for line in range(first, last + 1)}
    lines = code.split("\n")
    result = "\n".join(line for number, line in enumerate(lines, start=1) if number not in removed)
    return result if parses(result) else code


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    has_name = any(isinstance(p, ast.Name) and p.id == "__name__" for p in parts)
    has_main = any(isinstance(p, ast.Constant) and p.value == "__main__" for p in parts)
    return has_name and has_main
