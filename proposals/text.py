import unicodedata

# Letters that Unicode does not decompose into a base letter and a mark.
_EXTRA_FOLDS = str.maketrans({"đ": "d", "ð": "d", "ł": "l", "ø": "o", "ħ": "h", "ı": "i", "ŧ": "t"})


def normalise_name(name: str) -> str:
    """The key under which two spellings of a place name are the same place.

    Folds case, accents, spacing and punctuation: "Da Nang", "Đà Nẵng", "da  nang" and
    "Danang" all give "danang"; "Hà Nội" and "Hanoi" give "hanoi".
    """
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_EXTRA_FOLDS))
    without_marks = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return "".join(ch for ch in without_marks if ch.isalnum())
