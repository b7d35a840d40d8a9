"""A model's text answer in Java call syntax, read as BFCL's Java decoder reads it, without tree-sitter.

BFCL parses ``[Cls.method(a="x", b=new int[]{1, 2})]`` with tree-sitter's Java grammar (its brackets cut off)
and keeps the first method invocation it meets: its name (``object.name``), its ``name=value`` arguments and its
bare identifiers. A value becomes text: a string or char literal without its quotes; an identifier, class
literal, type name or method invocation as written; ``new T[]{...}`` and ``new T(a, b)`` rebuilt (the body of an
anonymous class dropped); anything else its tokens joined without spaces (``-5``, ``1+2``, ``XyzmMode.XYZ``).

The grammar here is the part of Java's expression syntax that such answers use (literals, names, field access,
calls, object and array creation, casts, lambdas, unary/binary/ternary operators, assignments), statements
separated by ``;``. One quirk of tree-sitter's error recovery is kept because it decides short answers: a single
statement without its ``;`` whose text is 10 bytes or fewer (each line break counting 30) is an ERROR there, so
``f(a=1)`` fails and ``f(a=12345)``'s 11-byte twin passes. Syntax outside this subset is refused, where
tree-sitter might have recovered; docs/sources/bfcl.md lists it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tianping.agents.bfcl.pyparse import DecodeError, bracketed

_TOKEN = re.compile(
    r"""(?P<ws>\s+|//[^\n]*|/\*.*?\*/)
    |(?P<number>0[xX][0-9a-fA-F_]+[lL]?|0[bB][01_]+[lL]?
        |(?:\d[\d_]*\.(?:\d[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[fFdD]?
        |\d[\d_]*(?:[eE][+-]?\d[\d_]*)[fFdD]?|\d[\d_]*[fFdDlL]?)
    |(?P<string>"(?:\\.|[^"\\\n])*")
    |(?P<char>'(?:\\.|[^'\\\n])+')
    |(?P<ident>[A-Za-z_$\u00c0-\uffff][\w$\u00c0-\uffff]*)
    |(?P<op>>>>=|<<=|>>=|>>>|\.\.\.|->|::|\+\+|--|&&|\|\||==|!=|<=|>=|\+=|-=|\*=|/=|%=|&=|\|=|\^=|<<|>>
        |[(){}\[\];,.@=<>!~?:+\-*/&|^%])""",
    re.VERBOSE | re.DOTALL,
)
_PRIMITIVES = frozenset({"int", "long", "short", "byte", "char", "float", "double", "boolean", "void"})
_RESERVED = frozenset({
    "abstract", "assert", "break", "case", "catch", "class", "const", "continue", "default", "do", "else", "enum",
    "extends", "final", "finally", "for", "goto", "if", "implements", "import", "instanceof", "interface",
    "native", "new", "package", "private", "protected", "public", "return", "static", "strictfp", "super",
    "switch", "synchronized", "this", "throw", "throws", "transient", "try", "volatile", "while", "true",
    "false", "null",
} | _PRIMITIVES)  # fmt: skip
_ASSIGN = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", ">>>="})
_BINARY = [
    {"||"}, {"&&"}, {"|"}, {"^"}, {"&"}, {"==", "!="}, {"<", ">", "<=", ">=", "instanceof"},
    {"<<", ">>", ">>>"}, {"+", "-"}, {"*", "/", "%"},
]  # fmt: skip
_RAW = frozenset({"identifier", "class_literal", "type_identifier", "method_invocation"})
_SHORT_STATEMENT = 10
"""tree-sitter prefers an ERROR to a missing ``;`` when the statement costs at most this (bytes + 30 a line)."""


@dataclass
class Node:
    type: str
    start: int
    end: int
    children: list[Node] = field(default_factory=list)
    fields: dict[str, Node] = field(default_factory=dict)


@dataclass
class _Tok:
    kind: str
    text: str
    start: int
    end: int


def _tokens(source: str) -> list[_Tok]:
    out, at = [], 0
    while at < len(source):
        found = _TOKEN.match(source, at)
        if found is None:
            raise DecodeError(f"not Java: unexpected {source[at]!r} at {at}")
        kind = found.lastgroup or ""
        if kind != "ws":
            text = found.group()
            if kind == "ident" and text in _RESERVED:
                kind = "keyword"
            out.append(_Tok(kind, text, found.start(), found.end()))
        at = found.end()
    out.append(_Tok("eof", "", len(source), len(source)))
    return out


class _Parser:
    def __init__(self, source: str):
        self.src = source
        self.toks = _tokens(source)
        self.i = 0

    # -- helpers -------------------------------------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def at(self, *texts: str) -> bool:
        return self.tok.kind in ("op", "keyword") and self.tok.text in texts

    def leaf(self, kind: str | None = None) -> Node:
        tok = self.tok
        self.i += 1
        return Node(kind or tok.text, tok.start, tok.end)

    def expect(self, text: str) -> Node:
        if not self.at(text):
            raise DecodeError(f"not Java: expected {text!r} at {self.tok.start}, got {self.tok.text!r}")
        return self.leaf()

    def node(self, kind: str, children: list[Node], **fields: Node) -> Node:
        return Node(kind, children[0].start, children[-1].end, children, fields)

    # -- statements ----------------------------------------------------------------------------------------------
    def program(self) -> Node:
        statements = []
        while self.tok.kind != "eof":
            if self.at(";"):
                statements.append(self.node("expression_statement", [self.leaf()]))
                continue
            expression = self.expression()
            parts = [expression]
            if self.at(";"):
                parts.append(self.leaf())
            elif self.tok.kind != "eof":
                raise DecodeError(f"not Java: expected ';' at {self.tok.start}, got {self.tok.text!r}")
            statements.append(self.node("expression_statement", parts))
        if len(statements) == 1 and statements[0].children[-1].type != ";":
            text = self.src.strip()
            if len(text.encode("utf-8")) + 30 * text.count("\n") <= _SHORT_STATEMENT:
                raise DecodeError("not Java: a short statement without ';' (tree-sitter reads it as an ERROR)")
        return Node("program", 0, len(self.src), statements)

    # -- expressions ---------------------------------------------------------------------------------------------
    def expression(self) -> Node:
        if self.tok.kind == "ident" and self.peek().text == "->":
            params = self.leaf("identifier")
            return self._lambda(params)
        if self.at("(") and self._lambda_parens():
            depth = 0
            children = []
            while True:
                if self.at("("):
                    depth += 1
                elif self.at(")"):
                    depth -= 1
                children.append(self.leaf("identifier" if self.tok.kind == "ident" else None))
                if depth == 0:
                    break
            return self._lambda(self.node("formal_parameters", children))
        left = self.ternary()
        if self.tok.kind == "op" and self.tok.text in _ASSIGN:
            if left.type not in ("identifier", "field_access", "array_access"):
                raise DecodeError(f"not Java: cannot assign to {left.type}")
            op = self.leaf()
            return self.node("assignment_expression", [left, op, self.expression()], left=left)
        return left

    def _lambda_parens(self) -> bool:
        depth, k = 0, self.i
        while k < len(self.toks):
            text = self.toks[k].text
            if self.toks[k].kind == "eof":
                return False
            if text == "(":
                depth += 1
            elif text == ")":
                depth -= 1
                if depth == 0:
                    return self.toks[k + 1].text == "->"
            k += 1
        return False

    def _lambda(self, params: Node) -> Node:
        arrow = self.expect("->")
        body = self.block() if self.at("{") else self.expression()
        return self.node("lambda_expression", [params, arrow, body])

    def block(self) -> Node:
        """A brace-balanced run of tokens (a lambda's block, an anonymous class's body), kept as leaves."""
        children, depth = [], 0
        while True:
            if self.tok.kind == "eof":
                raise DecodeError("not Java: unbalanced braces")
            if self.at("{"):
                depth += 1
            elif self.at("}"):
                depth -= 1
            kind = {"ident": "identifier", "string": "string_literal", "char": "character_literal"}.get(self.tok.kind)
            children.append(self.leaf(kind))
            if depth == 0:
                return self.node("block", children)

    def ternary(self) -> Node:
        condition = self.binary(0)
        if not self.at("?"):
            return condition
        q = self.leaf()
        yes = self.expression()
        colon = self.expect(":")
        return self.node("ternary_expression", [condition, q, yes, colon, self.expression()])

    def binary(self, level: int) -> Node:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.tok.kind in ("op", "keyword") and self.tok.text in _BINARY[level]:
            op = self.leaf()
            right = self.type_() if op.type == "instanceof" else self.binary(level + 1)
            kind = "instanceof_expression" if op.type == "instanceof" else "binary_expression"
            left = self.node(kind, [left, op, right])
        return left

    def unary(self) -> Node:
        if self.at("+", "-", "!", "~"):
            op = self.leaf()
            return self.node("unary_expression", [op, self.unary()])
        if self.at("++", "--"):
            op = self.leaf()
            return self.node("update_expression", [op, self.unary()])
        if self.at("(") and self._is_cast():
            opening = self.leaf()
            kind = self.type_()
            closing = self.expect(")")
            return self.node("cast_expression", [opening, kind, closing, self.unary()])
        return self.postfix(self.primary())

    def _is_cast(self) -> bool:
        nxt = self.peek()
        if nxt.kind == "keyword" and nxt.text in _PRIMITIVES:
            return True
        if nxt.kind != "ident":
            return False
        k, depth = self.i + 1, 0
        while k < len(self.toks) and self.toks[k].kind != "eof":  # a type: names, dots, <...>, []
            text = self.toks[k].text
            if text == "<":
                depth += 1
            elif text in (">", ">>", ">>>"):
                depth -= len(text)
            elif text == ")" and depth <= 0:
                after = self.toks[k + 1]
                return after.kind in ("ident", "number", "string", "char") or after.text in (
                    "(",
                    "new",
                    "this",
                    "!",
                    "~",
                )
            elif not (self.toks[k].kind == "ident" or text in (".", ",", "[", "]", "?")):
                return False
            k += 1
        return False

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            return self.leaf("number_literal")
        if tok.kind == "string":
            return self.leaf("string_literal")
        if tok.kind == "char":
            return self.leaf("character_literal")
        if tok.kind == "ident":
            name = self.leaf("identifier")
            if self.at("("):
                arguments = self.arguments()
                return self.node("method_invocation", [name, arguments], name=name, arguments=arguments)
            return name
        if tok.kind == "keyword":
            if tok.text in ("true", "false", "null", "this", "super"):
                return self.leaf(tok.text if tok.text != "null" else "null_literal")
            if tok.text == "new":
                return self.creation()
            if tok.text in _PRIMITIVES and self.peek().text in (".", "["):
                kind = self.type_()
                dot, cls = self.expect("."), self.expect("class")
                return self.node("class_literal", [kind, dot, cls])
        if self.at("("):
            opening = self.leaf()
            inner = self.expression()
            return self.node("parenthesized_expression", [opening, inner, self.expect(")")])
        raise DecodeError(f"not Java: unexpected {tok.text or 'end'!r} at {tok.start}")

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at("."):
                dot = self.leaf()
                if self.at("class"):
                    node = self.node("class_literal", [node, dot, self.leaf()])
                    continue
                if self.at("<"):  # explicit type arguments: obj.<T>call()
                    targs = self.type_arguments()
                    name = self._name()
                    arguments = self.arguments()
                    node = self.node("method_invocation", [node, dot, targs, name, arguments],
                                     object=node, name=name, arguments=arguments)  # fmt: skip
                    continue
                name = self._name()
                if self.at("("):
                    arguments = self.arguments()
                    node = self.node("method_invocation", [node, dot, name, arguments],
                                     object=node, name=name, arguments=arguments)  # fmt: skip
                else:
                    node = self.node("field_access", [node, dot, name])
            elif self.at("["):
                opening = self.leaf()
                index = self.expression()
                node = self.node("array_access", [node, opening, index, self.expect("]")])
            elif self.at("::"):
                sep = self.leaf()
                target = self.leaf("new") if self.at("new") else self._name()
                node = self.node("method_reference", [node, sep, target])
            elif self.at("++", "--"):
                node = self.node("update_expression", [node, self.leaf()])
            else:
                return node

    def _name(self) -> Node:
        if self.tok.kind != "ident":
            raise DecodeError(f"not Java: expected a name at {self.tok.start}")
        return self.leaf("identifier")

    def arguments(self) -> Node:
        children = [self.expect("(")]
        if not self.at(")"):
            while True:
                children.append(self.expression())
                if not self.at(","):
                    break
                children.append(self.leaf())
        children.append(self.expect(")"))
        return self.node("argument_list", children)

    def creation(self) -> Node:
        new = self.leaf()
        kind = self.type_(dimensions=False)
        if self.at("["):
            dims: list[Node] = []
            sized = False
            while self.at("["):
                opening = self.leaf()
                if not self.at("]"):
                    sized = True
                    size = self.expression()
                    dims.append(self.node("dimensions_expr", [opening, size, self.expect("]")]))
                else:
                    dims.append(self.node("dimensions", [opening, self.expect("]")]))
            fields = {"type": kind}
            children = [new, kind, *dims]
            if not sized:
                value = self.initializer()
                children.append(value)
                fields["value"] = value
            return self.node("array_creation_expression", children, **fields)
        arguments = self.arguments()
        children = [new, kind, arguments]
        if self.at("{"):
            children.append(self.block())
        return self.node("object_creation_expression", children, type=kind, arguments=arguments)

    def initializer(self) -> Node:
        children = [self.expect("{")]
        while not self.at("}"):
            children.append(self.initializer() if self.at("{") else self.expression())
            if not self.at(","):
                break
            children.append(self.leaf())
        children.append(self.expect("}"))
        return self.node("array_initializer", children)

    def type_(self, dimensions: bool = True) -> Node:
        if self.tok.kind == "keyword" and self.tok.text in _PRIMITIVES:
            node = self.node("integral_type", [self.leaf()])
        else:
            if self.tok.kind != "ident":
                raise DecodeError(f"not Java: expected a type at {self.tok.start}")
            node = self.leaf("type_identifier")
            while True:
                if self.at("<"):
                    node = self.node("generic_type", [node, self.type_arguments()])
                elif self.at(".") and self.peek().kind == "ident":
                    dot = self.leaf()
                    node = self.node("scoped_type_identifier", [node, dot, self.leaf("type_identifier")])
                else:
                    break
        while dimensions and self.at("[") and self.peek().text == "]":
            opening = self.leaf()
            node = self.node("array_type", [node, self.node("dimensions", [opening, self.expect("]")])])
        return node

    def type_arguments(self) -> Node:
        children = [self.expect("<")]
        while not self._closing_angle():
            if self.at("?"):
                children.append(self.leaf())
                if self.tok.kind == "keyword" and self.tok.text in ("extends", "super"):
                    children.append(self.leaf())
                    children.append(self.type_())
            else:
                children.append(self.type_())
            if not self.at(","):
                break
            children.append(self.leaf())
        if not self._closing_angle():
            raise DecodeError(f"not Java: expected '>' at {self.tok.start}")
        children.append(self._take_angle())
        return self.node("type_arguments", children)

    def _closing_angle(self) -> bool:
        return self.tok.kind == "op" and self.tok.text in (">", ">>", ">>>", ">=", ">>=")

    def _take_angle(self) -> Node:
        """One ``>`` of a token that may close several type argument lists at once (``>>``)."""
        tok = self.tok
        if tok.text == ">":
            self.i += 1
        else:
            self.toks[self.i] = _Tok("op", tok.text[1:], tok.start + 1, tok.end)
        return Node(">", tok.start, tok.start + 1)


def _text(node: Node, src: str, nested: bool) -> str:
    """A value as BFCL's ``traverse_node`` writes it."""
    raw = src[node.start : node.end]
    if node.type in ("string_literal", "character_literal"):
        return raw if nested else raw[1:-1]
    if node.type in _RAW:
        return raw
    if node.type == "array_creation_expression":
        if "value" not in node.fields:
            raise DecodeError("an array created by size has no value to read")
        return f"new {_text(node.fields['type'], src, True)}[]{_text(node.fields['value'], src, True)}"
    if node.type == "object_creation_expression":
        args = [_text(c, src, True) for c in node.fields["arguments"].children if c.type not in (",", "(", ")")]
        return f"new {_text(node.fields['type'], src, True)}({', '.join(args)})"
    if node.children:
        return "".join(_text(child, src, True) for child in node.children)
    return raw


def _first_invocation(node: Node) -> Node | None:
    if node.type == "method_invocation":
        return node
    for child in node.children:
        found = _first_invocation(child)
        if found is not None:
            return found
    return None


def decode_java(text: str) -> Any:
    """The first call of an answer in Java syntax as ``[{name: {param: text}}]``; ``{}`` when there is no call
    (BFCL's result, which the format check then refuses); ``DecodeError`` for a syntax error."""
    source = bracketed(text)[1:-1]
    try:
        tree = _Parser(source).program()
    except RecursionError:
        raise DecodeError("answer nested too deeply") from None
    call = _first_invocation(tree)
    if call is None:
        return {}
    name = source[call.fields["name"].start : call.fields["name"].end]
    if "object" in call.fields:
        obj = call.fields["object"]
        name = f"{source[obj.start : obj.end]}.{name}"
    args: dict[str | None, Any] = {}
    for child in call.fields["arguments"].children:
        if child.type == "assignment_expression":
            key: str | None = source[child.children[0].start : child.children[0].end]
            value = _text(child.children[2], source, False)
        elif child.type in ("identifier", "class_literal"):
            key, value = None, _text(child, source, False)
        else:
            continue
        if key in args:
            raise DecodeError("an argument given twice")
        args[key] = value
    return [{name: args}]
