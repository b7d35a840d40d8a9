"""A model's text answer in JavaScript call syntax, read as BFCL's JavaScript decoder reads it, without
tree-sitter.

BFCL parses ``[func(a="x", b=[1, 2])]`` with tree-sitter's JavaScript grammar (its brackets cut off), refuses the
answer if the tree has an ERROR anywhere, and takes the first expression statement that is itself a call: its
callee as written, each ``name=value`` argument as the value's source text (one pair of enclosing quotes
removed), and bare identifiers and ``true`` under no name; other positional arguments are dropped. No such
statement: no result (BFCL returns None, which its format check refuses).

The grammar here covers JavaScript expressions (literals, template strings, regular expressions, arrays,
objects, functions and arrow functions, member access, calls, ``new``, unary/binary/logical/conditional
operators, assignments, sequences) and expression statements ended by ``;``, a line break (automatic semicolon
insertion) or the end; a block or a function body is checked for balanced brackets only. Syntax outside it is
refused, where tree-sitter might have accepted it; docs/sources/bfcl.md lists it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tianping.agents.bfcl.pyparse import DecodeError, bracketed

_WS = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)+", re.DOTALL)
_NUMBER = re.compile(
    r"(?:0[xX][\da-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?)n?"
)
_STRING = re.compile(r""""(?:\\(?:\r\n|.)|[^"\\\n])*"|'(?:\\(?:\r\n|.)|[^'\\\n])*'""", re.DOTALL)
_IDENT = re.compile(r"[A-Za-z_$\u00c0-\uffff][\w$\u00c0-\uffff]*|#[A-Za-z_$][\w$]*")
_REGEX = re.compile(r"/(?:\\.|\[(?:\\.|[^\]\\\n])*\]|[^/\\\[\n])+/[a-z]*")
_OPS = sorted(
    [">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "=>", "==", "!=", "<=", ">=",
     "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", ">>", "**", "{", "}",
     "(", ")", "[", "]", ";", ",", "<", ">", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "?", ":", "=", ".",
     "@"],
    key=len,
    reverse=True,
)  # fmt: skip
_KEYWORDS = frozenset({
    "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else", "export",
    "extends", "finally", "for", "function", "if", "import", "in", "instanceof", "new", "return", "super", "switch",
    "this", "throw", "try", "typeof", "var", "void", "while", "with", "yield", "let", "true", "false", "null",
})  # fmt: skip
_ASSIGN = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", ">>>=", "**=", "&&=", "||=",
                     "??="})  # fmt: skip
_BINARY = [
    {"||", "??"}, {"&&"}, {"|"}, {"^"}, {"&"}, {"==", "!=", "===", "!=="}, {"<", ">", "<=", ">=", "instanceof", "in"},
    {"<<", ">>", ">>>"}, {"+", "-"}, {"*", "/", "%"},
]  # fmt: skip
_UNARY = frozenset({"!", "~", "+", "-", "typeof", "void", "delete", "await"})


@dataclass
class Node:
    type: str
    start: int
    end: int
    children: list[Node] = field(default_factory=list)


@dataclass
class _Tok:
    kind: str
    text: str
    start: int
    end: int
    newline: bool
    """A line break comes before it (automatic semicolon insertion)."""


def _template_end(src: str, at: int) -> int:
    """Where the template string starting at ``at`` (a backtick) ends; substitutions are tokenized to find their
    closing brace."""
    k = at + 1
    while k < len(src):
        c = src[k]
        if c == "\\":
            k += 2
            continue
        if c == "`":
            return k + 1
        if src.startswith("${", k):
            depth, k = 1, k + 2
            while depth:
                tok = _lex(src, k, regex=False)
                if tok.kind == "eof":
                    raise DecodeError("not JavaScript: unterminated template")
                depth += {"{": 1, "}": -1}.get(tok.text, 0) if tok.kind == "op" else 0
                k = tok.end
            continue
        k += 1
    raise DecodeError("not JavaScript: unterminated template")


def _lex(src: str, at: int, regex: bool) -> _Tok:
    space = _WS.match(src, at)
    newline = False
    if space:
        newline = "\n" in space.group() or "\u2028" in space.group()
        at = space.end()
    if at >= len(src):
        return _Tok("eof", "", at, at, newline)
    c = src[at]
    if c == "`":
        return _Tok("template", "`", at, _template_end(src, at), newline)
    if c in "\"'":
        found = _STRING.match(src, at)
        if not found:
            raise DecodeError(f"not JavaScript: unterminated string at {at}")
        return _Tok("string", found.group(), at, found.end(), newline)
    if regex and c == "/":
        found = _REGEX.match(src, at)
        if found:
            return _Tok("regex", found.group(), at, found.end(), newline)
    if c.isdigit() or (c == "." and src[at + 1 : at + 2].isdigit()):
        found = _NUMBER.match(src, at)
        assert found is not None
        return _Tok("number", found.group(), at, found.end(), newline)
    found = _IDENT.match(src, at)
    if found:
        kind = "keyword" if found.group() in _KEYWORDS else "ident"
        return _Tok(kind, found.group(), at, found.end(), newline)
    for op in _OPS:
        if src.startswith(op, at):
            if op == "?." and src[at + 2 : at + 3].isdigit():
                continue  # a ? b : .5
            return _Tok("op", op, at, at + len(op), newline)
    raise DecodeError(f"not JavaScript: unexpected {c!r} at {at}")


class _Parser:
    def __init__(self, source: str):
        self.src = source
        self.tok = _lex(source, 0, regex=True)

    def advance(self, regex: bool = False) -> _Tok:
        tok = self.tok
        self.tok = _lex(self.src, tok.end, regex)
        return tok

    def at(self, *texts: str) -> bool:
        return self.tok.kind in ("op", "keyword", "ident") and self.tok.text in texts

    def leaf(self, kind: str | None = None, regex: bool = False) -> Node:
        tok = self.advance(regex)
        return Node(kind or tok.text, tok.start, tok.end)

    def expect(self, text: str, regex: bool = False) -> Node:
        if not self.at(text):
            raise DecodeError(f"not JavaScript: expected {text!r} at {self.tok.start}, got {self.tok.text!r}")
        return self.leaf(regex=regex)

    def node(self, kind: str, children: list[Node]) -> Node:
        return Node(kind, children[0].start, children[-1].end, children)

    def _lookahead(self, test: Any) -> bool:
        saved = self.tok
        try:
            return bool(test())
        except DecodeError:
            return False
        finally:
            self.tok = saved

    # -- statements ----------------------------------------------------------------------------------------------
    def program(self) -> list[Node]:
        statements = []
        while self.tok.kind != "eof":
            if self.at(";"):
                self.leaf(regex=True)
                continue
            if self.at("{"):
                statements.append(self.balanced("statement_block"))
                continue
            if self.at("function") or (self.at("async") and self._next_is("function")):
                statements.append(self.function())
                continue
            if self.at("let", "const", "var") and _lex(self.src, self.tok.end, False).kind in ("ident", "op"):
                statements.append(self.declaration())
                continue
            expression = self.expression()
            children = [expression]
            if self.at(";"):
                children.append(self.leaf(regex=True))
            elif not (self.tok.kind == "eof" or self.tok.newline or self.at("}")):
                raise DecodeError(f"not JavaScript: expected ';' at {self.tok.start}, got {self.tok.text!r}")
            statements.append(self.node("expression_statement", children))
        return statements

    def declaration(self) -> Node:
        """``let``/``const``/``var`` with its declarators (a name or pattern, maybe ``= value``)."""
        start = self.leaf().start
        while True:
            target = self.call(self.primary(), allow_call=False)
            if target.type not in ("identifier", "array", "object"):
                raise DecodeError(f"not JavaScript: cannot declare {target.type}")
            end = target.end
            if self.at("="):
                self.leaf(regex=True)
                end = self.assignment().end
            if not self.at(","):
                break
            self.leaf()
        if self.at(";"):
            end = self.leaf(regex=True).end
        elif not (self.tok.kind == "eof" or self.tok.newline or self.at("}")):
            raise DecodeError(f"not JavaScript: expected ';' at {self.tok.start}, got {self.tok.text!r}")
        return Node("lexical_declaration", start, end)

    def _next_is(self, text: str) -> bool:
        return _lex(self.src, self.tok.end, regex=False).text == text

    def balanced(self, kind: str) -> Node:
        """A brace-delimited block checked for balance only (a statement block, a function body)."""
        opening = self.expect("{", regex=True)
        depth, end = 1, opening.end
        while depth:
            if self.tok.kind == "eof":
                raise DecodeError("not JavaScript: unbalanced braces")
            if self.tok.kind == "op" and self.tok.text in ("{", "}"):
                depth += 1 if self.tok.text == "{" else -1
            end = self.tok.end
            self.advance(regex=self.tok.kind == "op" and self.tok.text not in (")", "]", "}"))
        return Node(kind, opening.start, end)

    def function(self) -> Node:
        start = self.tok.start
        if self.at("async"):
            self.advance()
        self.expect("function")
        if self.at("*"):
            self.advance()
        if self.tok.kind == "ident":
            self.advance()
        self.parameters()
        body = self.balanced("statement_block")
        return Node("function_expression", start, body.end)

    def parameters(self) -> None:
        self.expect("(", regex=True)
        while not self.at(")"):
            if self.at("..."):
                self.advance()
            self.assignment()  # a name, a pattern, or a name with its default value
            if not self.at(","):
                break
            self.advance(regex=True)
        self.expect(")")

    # -- expressions ---------------------------------------------------------------------------------------------
    def expression(self) -> Node:
        first = self.assignment()
        if not self.at(","):
            return first
        children = [first]
        while self.at(","):
            children.append(self.leaf(regex=True))
            children.append(self.assignment())
        return self.node("sequence_expression", children)

    def assignment(self) -> Node:
        start = self.tok.start
        if self._is_arrow():
            if self.at("async"):
                self.advance()
            if self.tok.kind == "ident":
                self.advance()
            else:
                self.parameters()
            self.expect("=>", regex=True)
            body = self.balanced("statement_block") if self.at("{") else self.assignment()
            return Node("arrow_function", start, body.end)
        left = self.conditional()
        if self.tok.kind == "op" and self.tok.text in _ASSIGN:
            if left.type not in ("identifier", "member_expression", "subscript_expression", "array", "object"):
                raise DecodeError(f"not JavaScript: cannot assign to {left.type}")
            op = self.leaf(regex=True)
            return self.node("assignment_expression", [left, op, self.assignment()])
        return left

    def _is_arrow(self) -> bool:
        def simple() -> bool:
            if self.at("async") and _lex(self.src, self.tok.end, False).kind == "ident":
                self.advance()
            if self.tok.kind != "ident":
                return False
            self.advance()
            return self.at("=>") and not self.tok.newline

        def parenthesized() -> bool:
            if self.at("async"):
                self.advance()
            if not self.at("("):
                return False
            self.parameters()
            return self.at("=>")

        return self._lookahead(simple) or self._lookahead(parenthesized)

    def conditional(self) -> Node:
        condition = self.binary(0)
        if not self.at("?"):
            return condition
        q = self.leaf(regex=True)
        yes = self.assignment()
        colon = self.expect(":", regex=True)
        return self.node("ternary_expression", [condition, q, yes, colon, self.assignment()])

    def binary(self, level: int) -> Node:
        if level == len(_BINARY):
            return self.exponent()
        left = self.binary(level + 1)
        while self.tok.kind in ("op", "keyword") and self.tok.text in _BINARY[level]:
            op = self.leaf(regex=True)
            left = self.node("binary_expression", [left, op, self.binary(level + 1)])
        return left

    def exponent(self) -> Node:
        base = self.unary()
        if self.at("**"):
            op = self.leaf(regex=True)
            return self.node("binary_expression", [base, op, self.exponent()])
        return base

    def unary(self) -> Node:
        operand_follows = self.tok.text != "await" or _lex(self.src, self.tok.end, True).kind in (
            "ident", "keyword", "number", "string", "template", "regex")  # fmt: skip
        if self.tok.kind in ("op", "keyword", "ident") and self.tok.text in _UNARY and operand_follows:
            op = self.leaf(regex=True)
            return self.node("unary_expression", [op, self.unary()])
        if self.at("++", "--"):
            op = self.leaf(regex=True)
            return self.node("update_expression", [op, self.unary()])
        node = self.call(self.primary())
        if self.at("++", "--") and not self.tok.newline:
            node = self.node("update_expression", [node, self.leaf()])
        return node

    def arguments(self) -> Node:
        children = [self.expect("(", regex=True)]
        while not self.at(")"):
            if self.at("..."):
                spread = self.leaf(regex=True)
                children.append(self.node("spread_element", [spread, self.assignment()]))
            else:
                children.append(self.assignment())
            if not self.at(","):
                break
            children.append(self.leaf(regex=True))
        children.append(self.expect(")"))
        return self.node("arguments", children)

    def call(self, node: Node, allow_call: bool = True) -> Node:
        while True:
            if self.at("."):
                dot = self.leaf()
                node = self.node("member_expression", [node, dot, self._property()])
            elif self.at("?."):
                chain = self.leaf()
                if self.at("(") and allow_call:
                    node = self.node("call_expression", [node, chain, self.arguments()])
                elif self.at("["):
                    node = self.node("subscript_expression", [node, chain, *self._index()])
                else:
                    node = self.node("member_expression", [node, chain, self._property()])
            elif self.at("["):
                node = self.node("subscript_expression", [node, *self._index()])
            elif self.at("(") and allow_call:
                node = self.node("call_expression", [node, self.arguments()])
            elif self.tok.kind == "template":
                node = self.node("call_expression", [node, self.leaf("template_string")])
            else:
                return node

    def _index(self) -> list[Node]:
        opening = self.leaf(regex=True)
        index = self.expression()
        return [opening, index, self.expect("]")]

    def _property(self) -> Node:
        if self.tok.kind not in ("ident", "keyword"):
            raise DecodeError(f"not JavaScript: expected a property name at {self.tok.start}")
        return self.leaf("property_identifier")

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            return self.leaf("number")
        if tok.kind == "string":
            return self.leaf("string")
        if tok.kind == "template":
            return self.leaf("template_string")
        if tok.kind == "regex":
            return self.leaf("regex")
        if tok.kind == "op" and tok.text in ("/", "/="):  # an operand position: a regular expression after all
            self.tok = _lex(self.src, tok.start, regex=True)
            if self.tok.kind == "regex":
                return self.leaf("regex")
        if tok.kind == "ident":
            if tok.text == "async" and self._next_is("function"):
                return self.function()
            return self.leaf("undefined" if tok.text == "undefined" else "identifier")
        if tok.kind == "keyword":
            if tok.text in ("true", "false", "null", "this", "super"):
                return self.leaf(tok.text)
            if tok.text == "function":
                return self.function()
            if tok.text == "new":
                new = self.leaf()
                if self.at("."):  # new.target
                    dot = self.leaf()
                    return self.node("meta_property", [new, dot, self._property()])
                constructor = self.call(self.primary(), allow_call=False)
                children = [new, constructor]
                if self.at("("):
                    children.append(self.arguments())
                return self.node("new_expression", children)
        if self.at("("):
            opening = self.leaf(regex=True)
            inner = self.expression()
            return self.node("parenthesized_expression", [opening, inner, self.expect(")")])
        if self.at("["):
            return self.array()
        if self.at("{"):
            return self.object()
        raise DecodeError(f"not JavaScript: unexpected {tok.text or 'end'!r} at {tok.start}")

    def array(self) -> Node:
        children = [self.leaf(regex=True)]
        while not self.at("]"):
            if self.at(","):
                children.append(self.leaf(regex=True))  # a hole
                continue
            if self.at("..."):
                spread = self.leaf(regex=True)
                children.append(self.node("spread_element", [spread, self.assignment()]))
            else:
                children.append(self.assignment())
            if not self.at(","):
                break
            children.append(self.leaf(regex=True))
        children.append(self.expect("]"))
        return self.node("array", children)

    def object(self) -> Node:
        children = [self.leaf()]
        while not self.at("}"):
            children.append(self._member())
            if not self.at(","):
                break
            children.append(self.leaf())
        children.append(self.expect("}"))
        return self.node("object", children)

    def _member(self) -> Node:
        start = self.tok.start
        if self.at("..."):
            self.advance(regex=True)
            value = self.assignment()
            return Node("spread_element", start, value.end)
        if self.at("async", "get", "set", "*") and not self._next_is(":") and not self._next_is(",") \
                and not self._next_is("}") and not self._next_is("("):  # fmt: skip
            self.advance()
        key_kind = self.tok.kind
        if self.at("["):
            self.advance(regex=True)
            self.assignment()
            self.expect("]")
        elif key_kind in ("ident", "keyword", "string", "number"):
            self.advance()
        else:
            raise DecodeError(f"not JavaScript: expected a property at {self.tok.start}")
        if self.at(":"):
            self.advance(regex=True)
            value = self.assignment()
            return Node("pair", start, value.end)
        if self.at("("):
            self.parameters()
            body = self.balanced("statement_block")
            return Node("method_definition", start, body.end)
        if key_kind not in ("ident", "keyword"):
            raise DecodeError(f"not JavaScript: a property without a value at {self.tok.start}")
        return Node("shorthand_property_identifier", start, self.tok.start)


def _unquoted(text: str) -> str:
    if (text.startswith('"') and text.endswith('"')) or (text.startswith("'") and text.endswith("'")):
        return text[1:-1]
    return text


def decode_javascript(text: str) -> Any:
    """The first call statement of an answer in JavaScript syntax as ``[{name: {param: text}}]``; None when there
    is none; ``DecodeError`` for a syntax error."""
    source = bracketed(text)[1:-1]
    try:
        statements = _Parser(source).program()
    except RecursionError:
        raise DecodeError("answer nested too deeply") from None
    for statement in statements:
        if statement.type != "expression_statement" or statement.children[0].type != "call_expression":
            continue
        call = statement.children[0]
        name = source[call.children[0].start : call.children[0].end]
        args: dict[str | None, Any] = {}
        for child in call.children[1].children:
            if child.type == "assignment_expression":
                key: str | None = source[child.children[0].start : child.children[0].end]
                value = _unquoted(source[child.children[2].start : child.children[2].end])
            elif child.type in ("identifier", "true"):
                key, value = None, source[child.start : child.end]
            else:
                continue
            if key in args:
                raise DecodeError("an argument given twice")
            args[key] = value
        return [{name: args}]
    return None
