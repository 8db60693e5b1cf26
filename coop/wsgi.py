"""Helpers for the WSGI layers in front of Flask (coop/pagecache.py, coop/fund/fastpath.py)."""

from __future__ import annotations

from collections.abc import Iterable


def drain(app_iter: Iterable[bytes]) -> bytes:
    """The whole body of a WSGI answer, closing the iterable afterwards as PEP 3333 asks."""
    try:
        return b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
