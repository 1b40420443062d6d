"""Email addresses that look like another account's (UTS #39 confusables).

`lead.cebu@examplе.org` (with a Cyrillic е) or `kım.lee@…` (a dotless ı) would read as a
colleague's address in every list, email and audit line. Two addresses are confusable when
their *skeletons* are equal: the string after NFKC, case folding, the removal of invisible
format characters (Cf: zero-width joiners, soft hyphens…), and the replacement of each
character that Unicode lists as confusable with a Latin letter or digit by that letter, the
way UTS #39's skeleton maps characters to their prototypes. The table comes from
confusable-homoglyphs (Unicode's confusables.txt as a package); within ASCII, the pairs that
UTS #39 itself folds are folded too (`1`/`l`, `0`/`o`, `m`/`rn`).

An address that mixes scripts within one part (`exampӏe`, a Cyrillic palochka among Latin
letters; UTS #39's single-script restriction, section 5.2) is refused whatever else is
registered: the table maps some such letters to a prototype they do not look like on screen.
"""

import functools
import json
import re
import unicodedata
from importlib import resources

from confusable_homoglyphs import confusables

# ASCII characters that UTS #39 maps to another ASCII prototype (after case folding).
_ASCII_FOLDS = {"1": "l", "|": "l", "0": "o", "m": "rn"}


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each non-ASCII character that looks like a Latin letter or digit, with that letter."""
    table = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    mapping = {}
    for char, homoglyphs in table.items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in homoglyphs:
            look = glyph["c"].casefold()
            if len(look) == 1 and look.isascii() and look.isalnum():
                mapping[char] = look
                break
    return mapping


def skeleton(text: str) -> str:
    prototypes = _prototypes()
    folded = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for char in folded:
        if unicodedata.category(char) == "Cf":
            continue
        char = prototypes.get(char, char)
        out.append(_ASCII_FOLDS.get(char, char))
    return "".join(out)


def mixes_scripts(email: str) -> bool:
    """Some part of the address (between dots, @, + and -) mixes letters of two scripts."""
    parts = re.split(r"[.@+\-_]", unicodedata.normalize("NFKC", email))
    return any(confusables.is_mixed_script(part) for part in parts if part)


def confusable_with(email: str, others) -> str | None:
    """The first of `others` that is a different address with the same skeleton, or None."""
    mine = skeleton(email)
    lowered = email.casefold()
    for other in others:
        if other.casefold() != lowered and skeleton(other) == mine:
            return other
    return None
