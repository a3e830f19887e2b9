"""The string-built XML elements are byte for byte what xml.etree writes for the same tree."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from ivr.adapters.xmltext import element, escape_attribute, escape_text

# any text XML can carry, with the characters that need escaping made likely
_TEXT = st.text(st.sampled_from("ab &<>\"'\r\n\t;#é") | st.characters(codec="utf-8"), max_size=30)


def _etree(tag: str, text: str | None, attributes: dict[str, str], child: ET.Element | None) -> str:
    node = ET.Element(tag, attributes)
    node.text = text
    if child is not None:
        node.append(child)
    return ET.tostring(node, encoding="unicode")


@given(_TEXT, _TEXT)
def test_escaping_matches_elementtree(text: str, value: str) -> None:
    assert element("Say", text, language=value) == _etree("Say", text, {"language": value}, None)
    escaped = _etree("x", text + "!", {"a": value}, None)
    assert escaped == f'<x a="{escape_attribute(value)}">{escape_text(text)}!</x>'


@given(_TEXT | st.none(), _TEXT, st.booleans())
def test_nested_and_empty_elements_match_elementtree(
    text: str | None, value: str, with_child: bool
) -> None:
    child = ET.Element("Task")
    child.text = value
    inner = element("Task", value) if with_child else ""
    expected = _etree("Enqueue", text, {"method": "POST"}, child if with_child else None)
    assert element("Enqueue", text, inner=inner, method="POST") == expected


def test_attributes_keep_their_order() -> None:
    assert element("Gather", b="1", a="2") == '<Gather b="1" a="2" />'
    assert element("Hangup") == "<Hangup />"
