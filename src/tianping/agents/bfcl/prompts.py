"""What a BFCL request carries, built as BFCL's own inference builds it for an OpenAI-compatible chat model.

Both modes first add BFCL's language hints to the function docs (``_func_doc_language_specific_pre_processing``):
a note on the syntax to each description, and for Java and JavaScript every parameter turned into a string
"in string representation" (its type, element type and object schema moved into its description).

- ``tools`` mode (BFCL's ``-FC`` models): the docs become OpenAI tools (``convert_to_tool`` for
  ``OPENAI_COMPLETIONS``: ``.`` in names written ``_``, ``dict`` as ``object``, ``float`` as ``number`` with a
  note, unknown types as ``string``); the question's messages are sent as they are.
- ``prompt`` mode (BFCL's prompting models): no tools; BFCL's default system prompt (Python call syntax, the docs
  as indented JSON, plain text, classic style) goes first, or before the question's own system message.

The system prompt's wording is BFCL's, byte for byte: it is data, kept equal so that scores compare.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tianping.agents.bfcl.data import language_of

_HINTS = {
    "python": " Note that the provided function is in Python 3 syntax.",
    "java": " Note that the provided function is in Java 8 SDK syntax.",
    "javascript": " Note that the provided function is in JavaScript syntax.",
}
_LANGUAGE_NAME = {"java": "Java", "javascript": "JavaScript"}
_LIST_TYPES = {"java": ("ArrayList", "Array"), "javascript": ("array",)}

TO_OPENAPI = {
    "integer": "integer", "number": "number", "float": "number", "string": "string", "boolean": "boolean",
    "bool": "boolean", "array": "array", "list": "array", "dict": "object", "object": "object", "tuple": "array",
    "any": "string", "byte": "integer", "short": "integer", "long": "integer", "double": "number", "char": "string",
    "ArrayList": "array", "Array": "array", "HashMap": "object", "Hashtable": "object", "Queue": "array",
    "Stack": "array", "Any": "string", "String": "string", "Bigint": "integer",
}  # fmt: skip
"""BFCL's ``GORILLA_TO_OPENAPI``: a doc's type names as JSON Schema types."""

_PERSONA = "You are an expert in composing functions."
_TASK = (
    "You are given a question and a set of possible functions. Based on the question, you will need to make one "
    "or more function/tool calls to achieve the purpose. If none of the functions can be used, point it out. If "
    "the given question lacks the parameters required by the function, also point it out."
)
_CALL_FORMAT = (
    "You should only return the function calls in your response.\n\nIf you decide to invoke any of the "
    "function(s), you MUST put it in the format of [func_name1(params_name1=params_value1, "
    "params_name2=params_value2...), func_name2(params)].  You SHOULD NOT include any other text in the response."
)
_MULTITURN = (
    "At each turn, you should try your best to complete the tasks requested by the user within the current turn. "
    "Continue to output functions to call until you have fulfilled the user's request to the best of your ability. "
    "Once you have no more functions to call, the system will consider the current turn complete and proceed to "
    "the next turn or task."
)
_TOOLS_INTRO = "Here is a list of functions in json format that you can invoke.\n{functions}\n"


def with_hints(functions: Sequence[Mapping[str, Any]], category: str) -> list[dict[str, Any]]:
    """Copies of the docs with BFCL's language hints (the originals stay as the checker reads them)."""
    language = language_of(category)
    docs = copy.deepcopy([dict(f) for f in functions])
    for doc in docs:
        doc["description"] = doc.get("description", "") + _HINTS[language]
        if language == "python":
            continue
        name = _LANGUAGE_NAME[language]
        for prop in doc["parameters"]["properties"].values():
            kind = prop.get("type")
            description = prop.get("description", "")
            if kind == "any":
                description += f" This parameter can be of any type of {name} object in string representation."
            else:
                description += f" This is {name} {kind} type parameter in string representation."
            if kind in _LIST_TYPES[language]:
                description += (
                    f" The list elements are of type {prop['items']['type']}; they are not in string representation."
                )
                del prop["items"]
            if language == "javascript" and kind == "dict" and "properties" in prop:
                description += (
                    " The dictionary entries have the following schema; they are not in string representation. "
                    + json.dumps(prop["properties"])
                )
                del prop["properties"]
            prop["description"] = description
            prop["type"] = "string"
    return docs


def _openapi_properties(properties: dict[str, Any]) -> dict[str, Any]:
    for prop in properties.values():
        kind = prop.get("type")
        if kind is None:
            prop["type"] = "string"
        else:
            if kind == "float":
                prop["format"] = "float"
                prop["description"] = prop.get("description", "") + " This is a float type value."
            prop["type"] = TO_OPENAPI.get(kind, "string")
        if prop["type"] in ("array", "object"):
            if "properties" in prop:
                prop["properties"] = _openapi_properties(prop["properties"])
            elif "items" in prop:
                items = prop["items"]
                items["type"] = TO_OPENAPI.get(items.get("type"), "string")
                if items["type"] == "array" and "items" in items:
                    items["items"]["type"] = TO_OPENAPI.get(items["items"].get("type"), "string")
                elif items["type"] == "object" and "properties" in items:
                    items["properties"] = _openapi_properties(items["properties"])
    return properties


def openai_tools(functions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The docs as OpenAI chat-completions tools (BFCL's ``convert_to_tool``)."""
    tools = []
    for doc in copy.deepcopy([dict(f) for f in functions]):
        doc["name"] = doc["name"].replace(".", "_")  # the API allows ^[a-zA-Z0-9_-]{1,64}$
        doc["parameters"]["type"] = "object"
        doc["parameters"]["properties"] = _openapi_properties(doc["parameters"]["properties"])
        tools.append({"type": "function", "function": doc})
    return tools


def system_prompt(functions: Sequence[Mapping[str, Any]]) -> str:
    """BFCL's default system prompt for prompting models, with the docs as indented JSON."""
    listing = _TOOLS_INTRO.format(functions=json.dumps(list(functions), indent=4))
    return f"{_PERSONA}{_TASK}\n\n{_CALL_FORMAT}\n\n{_MULTITURN}\n\n{listing}"


def prompt_messages(
    messages: Sequence[tuple[str, str]], functions: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """The question with the system prompt first (merged before a system message the question has)."""
    system = system_prompt(functions)
    out = list(messages)
    if out and out[0][0] == "system":
        out[0] = ("system", system + "\n\n" + out[0][1])
    else:
        out.insert(0, ("system", system))
    return out
