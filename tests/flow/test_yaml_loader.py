"""Strict YAML: the traps PyYAML falls into are reported with their positions."""

from __future__ import annotations

from ivr.flow.yaml_loader import load_yaml


def codes(text: str) -> list[tuple[str, int, int]]:
    return [(p.code, p.line, p.column) for p in load_yaml(text, "f.yaml").problems]


def test_source_map_has_keys_and_values() -> None:
    doc = load_yaml("a:\n  - b: 1\n    c: [x, 'y']\n", "f.yaml")
    assert doc.data == {"a": [{"b": 1, "c": ["x", "y"]}]}
    assert doc.values[("a", 0, "b")] == (2, 8)
    assert doc.keys[("a", 0, "c")] == (3, 5)
    assert doc.values[("a", 0, "c", 1)] == (3, 12)
    assert doc.position(("a", 0, "missing")) == (2, 5)


def test_yaml_11_words_stay_text() -> None:
    doc = load_yaml("a: yes\nb: no\nc: on\nd: off\ne: 1:30\nf: 2024-01-01\ng: true\nh: ~\n", "f")
    assert doc.data == {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": "off",
        "e": "1:30",
        "f": "2024-01-01",
        "g": True,
        "h": None,
    }
    assert doc.problems == []


def test_keys_yes_on_and_one_do_not_collapse() -> None:
    doc = load_yaml("yes: a\non: b\n'1': c\n", "f")
    assert doc.data == {"yes": "a", "on": "b", "1": "c"}


def test_duplicate_key_names_both_positions() -> None:
    [problem] = load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "f").problems
    assert (problem.code, problem.line, problem.column) == ("duplicate-key", 4, 3)
    assert "first at line 3, column 3" in problem.message


def test_numeric_keys_need_quotes() -> None:
    assert codes("choices:\n  1: a\n  007: b\n") == [
        ("unquoted-digits", 2, 3),
        ("unquoted-digits", 3, 3),
    ]
    doc = load_yaml("choices:\n  007: b\n", "f")
    assert doc.data == {"choices": {"007": "b"}}
    assert doc.problems[0].hint == 'write it quoted: "007"'


def test_raw_text_of_unquoted_scalars_is_kept() -> None:
    doc = load_yaml("k: 007\nq: '007'\n", "f")
    assert doc.data == {"k": 7, "q": "007"}
    assert doc.raw == {("k",): "007"}


def test_bare_hash_value_and_key() -> None:
    assert codes("term_key: #\n") == [("unquoted-symbol", 1, 11)]
    assert load_yaml("term_key: #\n", "f").data == {"term_key": "#"}
    assert codes("choices:\n  '1': a\n  #: b\n") == [("unquoted-symbol", 3, 3)]
    assert codes("description: # a real comment\n") == []


def test_bare_hash_in_flow_mapping_hints_quotes() -> None:
    [problem] = load_yaml("input: {term_key: #, timeout: 5s}\n", "f").problems
    assert problem.code == "yaml-syntax"
    assert problem.hint is not None
    assert '"#"' in problem.hint


def test_bare_star_is_an_alias_error_with_the_same_hint() -> None:
    [problem] = load_yaml("dont_have_key: *\n", "f").problems
    assert (problem.code, problem.line, problem.hint) == (
        "unquoted-symbol",
        1,
        'write "*" in quotes',
    )


def test_anchors_aliases_merge_keys_and_tags_are_refused() -> None:
    assert codes("a: &x 1\nb: *x\nc:\n  <<: {d: 1}\ne: !!str 1\n") == [
        ("unsupported-yaml", 1, 4),
        ("unsupported-yaml", 2, 4),
        ("unsupported-yaml", 4, 3),
    ]
    assert [c[0] for c in codes("e: !custom 1\n")] == ["unsupported-yaml"]


def test_syntax_errors_have_a_mark_and_tabs_a_hint() -> None:
    [problem] = load_yaml("a:\n\t- b\n", "f").problems
    assert (problem.code, problem.line, problem.column) == ("yaml-syntax", 2, 1)
    assert problem.hint == "indent with spaces, not tabs"
    assert codes("a: b: c\n") == [("yaml-syntax", 1, 5)]
    assert codes("a: 1\n---\nb: 2\n")[0][0] == "yaml-syntax"


def test_empty_and_non_string_keys() -> None:
    assert codes("") == [("empty-file", 1, 1)]
    assert codes("? [a]\n: 1\n") == [("non-string-key", 1, 3)]
    assert codes("true: 1\n") == [("non-string-key", 1, 1)]


def test_columns_count_characters_not_bytes() -> None:
    doc = load_yaml("a: 'é', b: x\nc: {é: 1, d: 2}\n".replace("a: 'é', b: x\n", "a: é\n"), "f")
    assert doc.values[("c", "d")] == (2, 14)
