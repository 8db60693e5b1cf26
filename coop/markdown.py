"""Markdown for text staff write (event descriptions, notices): raw HTML is never passed through."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup

# CommonMark with raw HTML off; markdown-it's link validation already refuses
# javascript:, vbscript:, file: and most data: URLs.
# No images either: the Content-Security-Policy (img-src 'self') would block any from
# another site, and readers saw a broken-image icon (QA); "![x](url)" reads as "!" and a link.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.disable("image")
_inline = MarkdownIt("commonmark", {"html": False})
_inline.disable(["heading", "list", "blockquote", "code", "fence", "hr", "table", "lheading",
                 "image"], ignoreInvalid=True)


@lru_cache(maxsize=256)
def render_markdown(text: str | None) -> Markup:
    """Remembered by text (at most 256): a campaign's thank-you text or an event's description
    is drawn again on every request for its page, and rendering it is a pure function."""
    # markdown-it runs with html=False: every "<" typed becomes "&lt;", so this is safe.
    return Markup(_md.render(text or ""))  # noqa: S704  # nosec B704


@lru_cache(maxsize=256)
def render_inline_markdown(text: str | None) -> Markup:
    """One short paragraph's worth (for banners): emphasis and links only, no block elements.

    Remembered (by text, at most 256): the banner renders the same few notices on every page.
    """
    # html=False here too: nothing typed can become markup.
    return Markup(_inline.renderInline(text or ""))  # noqa: S704  # nosec B704
