"""Person names as fuzzy keys: what QIDO-RS ``fuzzymatching=true`` compares.

PS3.18 8.3.4.6 leaves fuzzy matching of person names to the origin server; what users
expect of it is that case and accents do not matter (``müller`` finds ``MULLER^HANS``,
``Zoé`` finds ``ZOE``) and that a word may be any component of the name (``hans`` finds
``Müller^Hans``). So a name is kept, beside its value, as its words: decomposed
(NFKD), combining marks dropped, upper-cased, split at the component (``^``), group
(``=``) and word separators, each word preceded by a space. A query word ``w`` then
matches when the key contains `` w`` followed by anything: the start of a word, which
SQL ``LIKE '% W%'`` finds on SQLite and PostgreSQL without any extension.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fuzzy_key", "fuzzy_words"]

_SEPARATORS = re.compile(r"[\^=\s,.\-']+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.upper()


def fuzzy_words(name: str) -> list[str]:
    """The words of a person name (or of a query value), folded: no accents, upper case.

    >>> fuzzy_words("Müller^Hans-Jürgen")
    ['MULLER', 'HANS', 'JURGEN']
    """
    return [w for w in _SEPARATORS.split(_fold(name)) if w]


def fuzzy_key(name: str) -> str:
    """The index's fuzzy key of a person name: each word preceded by a space.

    >>> fuzzy_key("Doe^Zoé")
    ' DOE ZOE'
    """
    return "".join(" " + w for w in fuzzy_words(name))
