"""XML elements written as strings, escaped exactly as xml.etree.ElementTree serialises them.

The gateway documents are small and fixed in shape; building an element tree and walking it
again to serialise it cost more than the rest of rendering together. These helpers keep
ElementTree's output byte for byte (the tests compare the two), so documents do not change.
"""

from __future__ import annotations

_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTRIBUTE = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\r": "&#13;",
        "\n": "&#10;",
        "\t": "&#09;",
    }
)


def escape_text(text: str) -> str:
    """Character data as ElementTree escapes it (&, < and >)."""
    return text.translate(_TEXT)


def escape_attribute(value: str) -> str:
    """An attribute value as ElementTree escapes it (also quotes, CR, LF and tab)."""
    return value.translate(_ATTRIBUTE)


def element(tag: str, text: str | None = None, *, inner: str = "", **attributes: str) -> str:
    """`<tag a="...">text{inner}</tag>`, or `<tag a="..." />` when it has no content.

    `inner` is markup already written by these helpers (child elements), not escaped again;
    attributes keep their order, as ElementTree keeps insertion order.
    """
    opening = tag
    for name, value in attributes.items():
        opening += f' {name}="{value.translate(_ATTRIBUTE)}"'
    if not text and not inner:
        return f"<{opening} />"
    return f"<{opening}>{text.translate(_TEXT) if text else ''}{inner}</{tag}>"
