"""The per-board template syntax: ``{field}``, ``{{``/``}}``, and errors for every other
brace (with the line and column)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.errors import InputError
from rpiboot.flash.template import Placeholder, parse_template

FIELD_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)


def test_fields_and_escapes() -> None:
    template = parse_template("host-{serial}\n{{literal}} {mac}}}", "f")
    assert template.placeholders == (Placeholder(name="serial", line=1, column=6),
                                     Placeholder(name="mac", line=2, column=13))
    assert template.render({"serial": "abc", "mac": "m"}) == "host-abc\n{literal} m}"
    assert parse_template("", "f").parts == ()
    assert parse_template("{{}}", "f").render({}) == "{}"


@pytest.mark.parametrize(("text", "message"), [
    ("{", "f: line 1, column 1: a lone '{'"),
    ("}", "f: line 1, column 1: a lone '}'"),
    ("ab\ncd{", "f: line 2, column 3: a lone '{'"),
    ("{}", "'{}' is not a field placeholder"),
    ("{9lives}", "'{9lives}' is not a field placeholder"),
    ('{"k": 1}', "'{\"k\": 1}' is not a field placeholder"),
    ("{" + "x" * 60 + " }", "'{" + "x" * 36 + "...' is not a field placeholder"),
])
def test_every_other_brace_is_an_error(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_template(text, "f")
    assert message in caught.value.message and "{{" in (caught.value.hint or "")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_escaped_text_comes_back_unchanged(text: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    template = parse_template(escaped, "f")
    assert template.placeholders == () and template.render({}) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text().map(lambda t: ("text", t)),
                          FIELD_NAMES.map(lambda name: ("field", name)))),
       st.dictionaries(FIELD_NAMES, st.text()))
def test_rendering_puts_each_value_in_its_place(pieces: list[tuple[str, str]],
                                                values: dict[str, str]) -> None:
    source = "".join(value.replace("{", "{{").replace("}", "}}") if kind == "text"
                     else "{" + value + "}" for kind, value in pieces)
    fields = {**{value: f"<{value}>" for kind, value in pieces if kind == "field"}, **values}
    expected = "".join(value if kind == "text" else fields[value] for kind, value in pieces)
    assert parse_template(source, "f").render(fields) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("{}ab_1 \n:")))
def test_any_text_parses_or_is_an_input_error(text: str) -> None:
    try:
        template = parse_template(text, "f")
    except InputError as error:
        assert error.message.startswith("f: line ")
        return
    for holder in template.placeholders:
        line = text.split("\n")[holder.line - 1]
        assert line[holder.column - 1:].startswith("{" + holder.name + "}")
