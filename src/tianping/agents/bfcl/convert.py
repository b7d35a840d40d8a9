"""Java and JavaScript argument values, given as source text, turned into Python values by BFCL's rules.

BFCL asks for Java and JavaScript arguments "in string representation" and converts each string by the declared
type before comparing (``java_type_converter`` / ``js_type_converter``): numbers by strict patterns, booleans from
``true``/``false``, a few collection literals by regular expressions; anything that does not fit stays the string
it was, and so usually fails the comparison. The patterns below are BFCL's, so the same text converts the same
way; ``Unsupported`` marks the types BFCL declares but never converts (it raises there too).
"""

from __future__ import annotations

import re
from typing import Any

JAVA_TYPES: dict[str, type] = {
    "byte": int,
    "short": int,
    "integer": int,
    "float": float,
    "double": float,
    "long": int,
    "boolean": bool,
    "char": str,
    "Array": list,
    "ArrayList": list,
    "Set": set,
    "HashMap": dict,
    "Hashtable": dict,
    "Queue": list,
    "Stack": list,
    "String": str,
    "any": str,
}
"""The Python type a Java parameter's value must have once converted (BFCL's ``JAVA_TYPE_CONVERSION``)."""
JS_TYPES: dict[str, type] = {
    "String": str,
    "integer": int,
    "float": float,
    "Bigint": int,
    "Boolean": bool,
    "dict": dict,
    "array": list,
    "any": str,
}
"""The same for JavaScript (BFCL's ``JS_TYPE_CONVERSION``)."""


class Unsupported(ValueError):
    """A declared type without a conversion (BFCL raises for these as well)."""


_INT = re.compile(r"^-?\d+$")
_JAVA_FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$")
_JAVA_DOUBLE = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
_JAVA_LONG = re.compile(r"^-?\d+[lL]$")
_JAVA_CHAR = re.compile(r"^\'.$\'")  # BFCL's pattern as written: it matches nothing, so a char stays its text
_AS_LIST = re.compile(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)")
_ADDS = re.compile(r"new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}", re.DOTALL)
_ADD = re.compile(r"add\((.+?)\)")
_EMPTY_LIST = re.compile(r"new\s+ArrayList<\w*>\(\)")
_ARRAY = re.compile(r"new\s+\w+\[\]\s*\{(.*?)\}")
_MAP = re.compile(r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}", re.DOTALL)
_PUT = re.compile(r"put\(\"(.*?)\",\s*(.*?)\)")
_EMPTY_MAP = re.compile(r"new\s+HashMap<.*?>\s*\(\)")


def java_value(text: str, declared: str, nested: str | None = None) -> Any:
    """``text`` as a value of Java type ``declared`` (``nested``: the element type of an Array/ArrayList)."""
    if declared not in JAVA_TYPES:
        raise Unsupported(f"unsupported Java type {declared}")
    if declared in ("byte", "short", "integer"):
        return int(text) if _INT.match(text) else str(text)
    if declared == "float":
        return float(re.sub(r"[fF]$", "", text)) if _JAVA_FLOAT.match(text) else str(text)
    if declared == "double":
        return float(text) if _JAVA_DOUBLE.match(text) else str(text)
    if declared == "long":
        return int(re.sub(r"[lL]$", "", text)) if _JAVA_LONG.match(text) else str(text)
    if declared == "boolean":
        return text == "true" if text in ("true", "false") else str(text)
    if declared == "char":
        return text if _JAVA_CHAR.match(text) else str(text)
    if declared == "ArrayList":
        return _java_arraylist(text, nested)
    if declared == "Array":
        return _java_array(text, nested)
    if declared == "HashMap":
        return _java_hashmap(text)
    if declared in ("String", "any"):
        return str(text)
    raise Unsupported(f"{declared} conversion is not implemented")


def _java_element(text: str, nested: str | None) -> Any:
    if nested in ("char", "String"):
        return text[1:-1]  # the quotes dropped, whatever they are
    return java_value(text, nested) if nested else java_literal(text)


def _java_arraylist(text: str, nested: str | None) -> Any:
    found = _AS_LIST.search(text)
    if found:
        return [_java_element(part.strip(), nested) for part in found.group(1).split(",")]
    found = _ADDS.search(text)
    if found:
        return [_java_element(part.strip(), nested) for part in _ADD.findall(found.group(1))]
    if _EMPTY_LIST.search(text):
        return []
    return text


def _java_array(text: str, nested: str | None) -> Any:
    found = _ARRAY.search(text)
    if not found:
        return text
    parts = [part.strip() for part in found.group(1).split(",") if part.strip()]
    return [java_value(part, nested) if nested else java_literal(part) for part in parts]


def _java_hashmap(text: str) -> Any:
    found = _MAP.search(text)
    if found:
        entries: dict[str, Any] = {}
        if found.group(1).strip():
            for key, value in _PUT.findall(found.group(1)):
                entries[key] = java_literal(value.strip())
        return entries
    if _EMPTY_MAP.search(text):
        return {}
    return text


def java_literal(text: str) -> Any:
    """A Java literal without a declared type (BFCL's ``parse_java_value``)."""
    if text == "true":
        return True
    if text == "false":
        return False
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if _JAVA_LONG.match(text):
        return int(text[:-1])
    if _JAVA_FLOAT.match(text):
        return float(re.sub(r"[fF]$", "", text))
    return _number_or_text(text)


def _number_or_text(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# -- JavaScript --------------------------------------------------------------------------------------------------

_JS_FLOAT = re.compile(r"^-?\d+(\.\d+)?$")
_BIGINT = re.compile(r"^-?\d+n$")
_ARRAY_2D = re.compile(r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)")
_ARRAY_1D = re.compile(r"\[(.*?)\]|\bnew\s+Array\((.*?)\)")
_INNER = re.compile(r"\[(.*?)\]")
_OBJECT = re.compile(r"\{(.*?)\}")
_PAIR = re.compile(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)")


def js_value(text: str, declared: str, nested: str | None = None) -> Any:
    """``text`` as a value of JavaScript type ``declared`` (``nested``: the element type of an array)."""
    if declared not in JS_TYPES:
        raise Unsupported(f"unsupported JavaScript type {declared}")
    if declared == "String":
        quoted = (text.startswith('"') and text.endswith('"')) or (text.startswith("'") and text.endswith("'"))
        return text[1:-1] if quoted else str(text)
    if declared == "integer":
        return int(text) if _INT.match(text) else str(text)
    if declared == "float":
        return float(text) if _JS_FLOAT.match(text) else str(text)
    if declared == "Bigint":
        return int(text[:-1]) if _BIGINT.match(text) else str(text)
    if declared == "Boolean":
        return text == "true" if text in ("true", "false") else str(text)
    if declared == "dict":
        return _js_object(text.strip())
    if declared == "array":
        return _js_array(text.strip(), nested)
    return str(text)


def _js_array(code: str, nested: str | None) -> Any:
    try:
        found = _ARRAY_2D.match(code)
        if found:
            rows = []
            for k, inner in enumerate(_INNER.findall(found.group(0))):
                inner = inner.strip()
                if k == 0 and inner.startswith("["):
                    inner = inner[1:]
                rows.append([js_literal(e.strip()) for e in inner.split(",")])
            return rows
        found = _ARRAY_1D.match(code)
        if not found:
            return code
        body = found.group(1) if found.group(1) is not None else found.group(2)
        body = (body or "").strip()
        parts = body.split(",") if body else []
        if nested:
            # a quoted element is read as a string whatever the element type says, as BFCL reads it
            quoted = ("'", '"')
            return [js_value(p.strip(), nested, "String") if p.strip()[:1] in quoted else js_value(p.strip(), nested)
                    for p in parts]  # fmt: skip
        return [js_literal(p.strip()) for p in parts]
    except Exception:  # noqa: BLE001 - BFCL keeps the text when any element fails to convert
        return code


def _js_object(code: str) -> Any:
    if code == "{}":
        return {}
    found = _OBJECT.match(code)
    if not found:
        return code
    try:
        out: dict[str, Any] = {}
        for key, value in _PAIR.findall(found.group(1)):
            key, value = key.strip().strip("'\""), value.strip()
            if value.startswith("[") and value.endswith("]"):
                out[key] = _js_array(value, None)
            elif value.startswith("{") and value.endswith("}"):
                out[key] = _js_object(value)
            else:
                out[key] = js_literal(value.strip("'\""))
        return out
    except Exception:  # noqa: BLE001 - as BFCL: any failure keeps the text
        return code


def js_literal(text: str) -> Any:
    """A JavaScript literal without a declared type (BFCL's ``parse_js_value``)."""
    text = text.strip()
    if text == "true":
        return True
    if text == "false":
        return False
    if (text.startswith('"') and text.endswith('"')) or (text.startswith("'") and text.endswith("'")):
        return text[1:-1]
    return _number_or_text(text)
