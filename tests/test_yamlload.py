"""Safe YAML: booleans, tags, duplicate keys, bounded aliases and line numbers."""

from __future__ import annotations

import pytest

from pmf_engine.core.errors import DefinitionError
from pmf_engine.core.yamlload import load_yaml


def test_on_off_yes_no_stay_strings() -> None:
    doc = load_yaml("a: on\nb: off\nc: yes\nd: no\ne: true\nf: false\n", "x.yaml")
    assert doc.data == {"a": "on", "b": "off", "c": "yes", "d": "no", "e": True, "f": False}


def test_python_tags_refused_with_line() -> None:
    with pytest.raises(DefinitionError) as raised:
        load_yaml("a: 1\nb: !!python/name:os.system\n", "x.yaml")
    assert raised.value.line == 2 and "not allowed" in str(raised.value)


def test_duplicate_keys_refused() -> None:
    with pytest.raises(DefinitionError) as raised:
        load_yaml("a: 1\nb: 2\na: 3\n", "x.yaml")
    assert (raised.value.line, raised.value.field) == (3, "a")


def test_alias_bomb_fails_fast() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(DefinitionError, match="too large"):
        load_yaml("\n".join(lines), "bomb.yaml")


def test_lines_are_recorded_for_nested_paths() -> None:
    doc = load_yaml("top:\n  inner:\n    - first\n    - second\n", "x.yaml")
    assert doc.line_of(("top", "inner", 1)) == 4
    assert doc.line_of(("top", "missing", "deeper")) == 1


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file_is_an_error(text: str) -> None:
    with pytest.raises(DefinitionError, match="empty"):
        load_yaml(text, "x.yaml")
