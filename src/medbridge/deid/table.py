"""PS3.15 Table E.1-1 as data, and the action it gives an attribute under a policy.

The table ships as ``data/confidentiality_profile.csv`` (source and production in
``data/README.md``). Each row names an attribute, its Basic Profile action and, per
option, the action that replaces it when the option is chosen (PS3.15 E.3). The action
codes are those of PS3.15 Table E.1-1's legend:

- ``D`` replace with a non-zero length dummy value consistent with the VR;
- ``Z`` replace with a zero length value, or a dummy value consistent with the VR;
- ``X`` remove;
- ``K`` keep (for a sequence: keep, and de-identify its items);
- ``C`` clean: keep, with identifying content replaced by values of similar meaning;
- ``U`` replace a UID with a non-zero length UID that is consistent within the set;
- compounds ``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U*``: the first unless the IOD
  needs the attribute present (see :mod:`medbridge.deid._actions`).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from medbridge.deid.policy import Option

__all__ = ["ACTIONS", "Profile", "ProfileRule", "load_table", "profile_for"]

ACTIONS = frozenset({"D", "Z", "X", "K", "C", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"})
"""Every action code Table E.1-1 uses."""

_OPTION_COLUMNS = tuple(option for option in Option if option.column)


@dataclass(frozen=True, slots=True)
class ProfileRule:
    """One row of Table E.1-1.

    Attributes
    ----------
    tag:
        As printed in the standard: ``"(0010,0010)"``, or a pattern ``"(50XX,XXXX)"``,
        ``"(60XX,3000)"``, ``"(GGGG,EEEE)"`` (private: odd groups).
    name:
        The attribute's name in the standard.
    in_std_iod:
        Whether the attribute is used in a standard composite IOD; None where the
        sources of ``data/README.md`` do not say (rows added to the standard since 2020).
    basic:
        The Basic Profile action.
    options:
        For each option with an entry in the row, the action it calls for.
    """

    tag: str
    name: str
    in_std_iod: bool | None
    basic: str
    options: Mapping[Option, str]

    @property
    def tag_int(self) -> int | None:
        """The tag as an integer, or None for a pattern row."""
        digits = self.tag[1:5] + self.tag[6:10]
        try:
            return int(digits, 16)
        except ValueError:
            return None

    def action(self, options: Iterable[Option]) -> str:
        """The action under the chosen options (PS3.15 E.3).

        An option replaces the Basic Profile action only where its column has an entry.
        When several chosen options have entries, the one retaining most wins (K over
        C over the rest), as each option promises what it retains.
        """
        called = [self.options[o] for o in options if o in self.options]
        for wanted in ("K", "C"):
            if wanted in called:
                return wanted
        return called[0] if called else self.basic


@functools.cache
def load_table() -> tuple[ProfileRule, ...]:
    """Read Table E.1-1 from the package data, in the standard's order."""
    path = resources.files("medbridge.deid").joinpath("data/confidentiality_profile.csv")
    rules = []
    for row in csv.DictReader(path.read_text(encoding="utf-8").splitlines()):
        options = {o: row[o.column] for o in _OPTION_COLUMNS if row[o.column]}
        rules.append(
            ProfileRule(
                tag=row["tag"],
                name=row["name"],
                in_std_iod={"Y": True, "N": False}.get(row["stdCompIOD"]),
                basic=row["basicProfile"],
                options=options,
            )
        )
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class Profile:
    """Table E.1-1 compiled for one set of options: an action per tag, fast to look up.

    Attributes
    ----------
    by_tag:
        Action for each attribute with a fixed tag.
    curves:
        Action for the repeating groups (50xx,xxxx) 'Curve Data' (retired).
    overlay_data, overlay_comments:
        Actions for (60xx,3000) 'Overlay Data' and (60xx,4000) 'Overlay Comments'.
    private:
        Action for private attributes (odd groups).
    """

    by_tag: Mapping[int, str]
    curves: str
    overlay_data: str
    overlay_comments: str
    private: str

    def action(self, tag: int) -> str | None:
        """The action for ``tag``, or None when Table E.1-1 does not list it."""
        found = self.by_tag.get(tag)
        if found is not None:
            return found
        group = tag >> 16
        if group & 1:
            return self.private
        if 0x5000 <= group <= 0x501E:
            return self.curves
        if 0x6000 <= group <= 0x601E:
            element = tag & 0xFFFF
            if element == 0x3000:
                return self.overlay_data
            if element == 0x4000:
                return self.overlay_comments
        return None


@functools.cache
def profile_for(options: frozenset[Option]) -> Profile:
    """Compile Table E.1-1 for ``options`` (cached: one compile per option set)."""
    by_tag: dict[int, str] = {}
    patterns: dict[str, str] = {}
    for rule in load_table():
        tag = rule.tag_int
        if tag is None:
            patterns[rule.tag] = rule.action(options)
        else:
            by_tag[tag] = rule.action(options)
    return Profile(
        by_tag=by_tag,
        curves=patterns["(50XX,XXXX)"],
        overlay_data=patterns["(60XX,3000)"],
        overlay_comments=patterns["(60XX,4000)"],
        private=patterns["(GGGG,EEEE)"],
    )
