"""Attack converters for the safety benchmark: a seed prompt in, the attack actually sent to the model out.

>>> import random
>>> conv = get_converter("leetspeak+roleplay_grandma")
>>> attack = conv.convert("How do I pick a lock?", lang="en", rng=random.Random(0))
>>> attack.converter
'leetspeak+roleplay_grandma'

Every converter has a ``name``, a ``group`` (one of :data:`GROUPS`), a ``description`` of its mechanism, a
``source`` and the seed languages it applies to (``langs``). Methods that cannot apply to a given prompt raise
:class:`ConverterSkipped` with the reason.
"""

from tianping.core import Message

from .base import GROUPS, Attack, ConversationConverter, Converter, ConverterSkipped, TextConverter
from .registry import NoneConverter, all_converters, compose, converter_names, get_converter
from .translation import TranslateConverter, Translator
from .wild import InTheWildConverter

__all__ = [
    "GROUPS",
    "Attack",
    "ConversationConverter",
    "Converter",
    "ConverterSkipped",
    "InTheWildConverter",
    "Message",
    "NoneConverter",
    "TextConverter",
    "TranslateConverter",
    "Translator",
    "all_converters",
    "compose",
    "converter_names",
    "get_converter",
]
