"""Countries for the address form, named in British English by Babel (CLDR)."""

from __future__ import annotations

import unicodedata
from functools import cache

from babel import Locale

UK = "GB"
#: CLDR territory codes that are not countries one can live in
_NOT_COUNTRIES = {"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB"}


@cache
def countries() -> tuple[tuple[str, str], ...]:
    """``(code, name)`` pairs: the United Kingdom first, then the rest by name."""
    names = Locale.parse("en_GB").territories
    pairs = [
        (code, name) for code, name in names.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES and code != UK
    ]
    pairs.sort(key=lambda pair: unicodedata.normalize("NFKD", pair[1]))
    return ((UK, names[UK]), *pairs)


def country_name(code: str) -> str:
    return dict(countries()).get(code, code)
