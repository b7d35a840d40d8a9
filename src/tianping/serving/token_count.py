"""Counting a streamed reply's tokens on the client with the model's own tokenizer (optional).

A server may put several tokens in one stream chunk, so counting token-bearing chunks is not counting
tokens. With a tokenizer the probe counts the reply's text (answer and reasoning) and the first chunk's text
in tokens, which TPOT needs (see :mod:`tianping.serving.probe`). A tokenizer is named by ``spec``:

- ``tiktoken:NAME``: a tiktoken encoding (``cl100k_base``, ``o200k_base``) or an OpenAI model name; the
  encoding file must be in tiktoken's cache (the probe never downloads);
- a path to a ``tokenizer.json`` (loaded by ``tokenizers``), or to a folder holding one;
- a folder or Hugging Face model id that ``transformers.AutoTokenizer`` loads from local files only.

Special tokens are not added: the count is of the text the model produced.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

TokenCounter = Callable[[str], int]


class TokenCounterError(ValueError):
    """The tokenizer named could not be loaded; the message names it and why."""


def _tiktoken(name: str) -> TokenCounter:
    try:
        import tiktoken
    except ImportError:
        raise TokenCounterError(f"tokenizer {name!r}: tiktoken is not installed (pip install tiktoken)") from None
    try:
        try:
            enc = tiktoken.get_encoding(name)
        except ValueError:  # not an encoding name: perhaps a model name
            enc = tiktoken.encoding_for_model(name)
    except Exception as exc:  # noqa: BLE001 - unknown name, or a cache miss that would need the network
        raise TokenCounterError(f"tokenizer 'tiktoken:{name}': cannot load ({type(exc).__name__}: {exc})") from None

    def count(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))

    return count


def _tokenizer_file(path: Path) -> TokenCounter:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise TokenCounterError(f"{path}: the tokenizers package is not installed") from None
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - the library raises a bare Exception for a bad file
        raise TokenCounterError(f"{path}: not a usable tokenizer.json ({exc})") from None

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count


def _auto_tokenizer(spec: str) -> TokenCounter:
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise TokenCounterError(
            f"tokenizer {spec!r}: not a tokenizer.json file or folder, and transformers is not installed"
        ) from None
    try:
        tok: Any = AutoTokenizer.from_pretrained(spec, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - OSError for a missing model, ValueError for odd configs
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TokenCounterError(f"tokenizer {spec!r}: cannot load from local files ({first})") from None

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False))

    return count


def load_token_counter(spec: str) -> TokenCounter:
    """A function giving the number of tokens of a text, for the tokenizer ``spec`` names (module docstring)."""
    spec = spec.strip()
    if not spec:
        raise TokenCounterError("tokenizer: empty name")
    if spec.startswith("tiktoken:"):
        return _tiktoken(spec.split(":", 1)[1])
    path = Path(spec).expanduser()
    if path.is_file():
        return _tokenizer_file(path)
    if path.is_dir() and (path / "tokenizer.json").is_file():
        return _tokenizer_file(path / "tokenizer.json")
    if path.exists() or spec.startswith((".", "/", "~")):
        if not path.exists():
            raise TokenCounterError(f"tokenizer {spec!r}: no such file or folder")
        return _auto_tokenizer(str(path))
    return _auto_tokenizer(spec)
