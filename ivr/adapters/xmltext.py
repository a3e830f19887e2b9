"""XML elements written as strings, escaped exactly as xml.etree.ElementTree serialises them.

The gateway documents are small and fixed in shape; building an element tree and walking it
again to serialise it cost more than the rest of rendering together. These helpers keep
ElementTree's output byte for byte (the tests compare the two), so documents do not change.
"""

from __future__ import annotations

# (character, entity) in the order ElementTree replaces them: "&" first
_TEXT = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_ATTRIBUTE = (
    *_TEXT,
    ('"', "&quot;"),
    ("\r", "&#13;"),
    ("\n", "&#10;"),
    ("\t", "&#09;"),
)


def _replaced(value: str, entities: tuple[tuple[str, str], ...]) -> str:
    """Each character replaced by its entity, only where present (as ElementTree does it):
    most values have none, and a membership test is far cheaper than `str.translate`'s
    per-character lookups (`python -m bench.micro --only xml`)."""
    for character, entity in entities:
        if character in value:
            value = value.replace(character, entity)
    return value


def escape_text(text: str) -> str:
    """Character data as ElementTree escapes it (&, < and >)."""
    return _replaced(text, _TEXT)


def escape_attribute(value: str) -> str:
    """An attribute value as ElementTree escapes it (also quotes, CR, LF and tab)."""
    return _replaced(value, _ATTRIBUTE)


def element(tag: str, text: str | None = None, *, inner: str = "", **attributes: str) -> str:
    """`<tag a="...">text{inner}</tag>`, or `<tag a="..." />` when it has no content.

    `inner` is markup already written by these helpers (child elements), not escaped again;
    attributes keep their order, as ElementTree keeps insertion order.
    """
    opening = tag
    for name, value in attributes.items():
        opening += f' {name}="{_replaced(value, _ATTRIBUTE)}"'
    if not text and not inner:
        return f"<{opening} />"
    return f"<{opening}>{_replaced(text, _TEXT) if text else ''}{inner}</{tag}>"
