"""udev rules parser: real-world syntax, precise errors, and any text never crashes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.udev.install import rule_text
from rpiboot.udev.rules import (
    RuleSyntaxError,
    Token,
    logical_lines,
    parse_rule_line,
    parse_rules,
    read_rules_file,
)

README_RULE = ('SUBSYSTEM=="usb", ATTR{idVendor}=="0a5c", ATTR{idProduct}=="2763|2764|2711|2712", '
               'MODE="0660", GROUP="plugdev", TAG+="uaccess"')

# written in the style of distribution rules files: comments, GOTO/LABEL, continuations,
# spaces around operators, an e-string, an escaped quote
SYSTEM_LIKE = r'''#  a comment
ACTION=="remove", GOTO="demo_end"
ENV{MAJOR}=="", GOTO="demo_end"

SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", MODE="0664"
SUBSYSTEM == "sound", TAG+="uaccess", \
  OPTIONS+="static_node=snd/timer"
KERNEL=="ttyACM[0-9]*", ENV{ID_NOTE}=e"two\nlines", RUN+="/bin/echo \"quoted\""
LABEL="demo_end"
'''


def test_the_readme_rule_and_our_own_rules_parse() -> None:
    (rule,) = parse_rules(README_RULE).rules
    assert rule.tokens[1] == Token("ATTR", "idVendor", "==", "0a5c")
    assert rule.tokens[-1] == Token("TAG", None, "+=", "uaccess")
    for group in (None, "plugdev"):
        parsed = parse_rules(rule_text(group, version="9.9"))
        assert parsed.errors == () and len(parsed.rules) == 2


def test_system_style_files_parse_completely() -> None:
    parsed = parse_rules(SYSTEM_LIKE, "/usr/lib/udev/rules.d/70-demo.rules")
    assert parsed.errors == ()
    assert [rule.line for rule in parsed.rules] == [2, 3, 5, 6, 8, 9]
    assert parsed.rules[3].tokens == (Token("SUBSYSTEM", None, "==", "sound"),
                                      Token("TAG", None, "+=", "uaccess"),
                                      Token("OPTIONS", None, "+=", "static_node=snd/timer"))
    assert parsed.rules[4].tokens[1].value == "two\nlines"
    assert parsed.rules[4].tokens[2].value == '/bin/echo "quoted"'
    assert parsed.rules[5].label == "demo_end" and parsed.rules[0].label is None


@pytest.mark.parametrize(("line", "column", "reason"), [
    ('foo=="x"', 1, "unknown key 'foo' (udev keys are upper case)"),
    ('KERNEL=="sd*", MODE="0660', 21, "the value of MODE has no closing double quote"),
    ("ATTR{idVendor==\"0a5c\"", 5, "ATTR{ has no closing brace"),
    ("KERNEL~\"x\"", 7, "expected an operator (==, !=, =, +=, -=, :=) after KERNEL"),
    ("MODE=0660", 6, "the value of MODE must be in double quotes"),
    ('KERNEL=="a"GROUP="b"', 12, "expected a comma after the value of KERNEL"),
    ("KERNEL==\"a\", ?", 14, "expected a key such as ATTR{idVendor}, found '?'"),
])
def test_syntax_errors_say_where_and_why(line: str, column: int, reason: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule_line(line)
    assert (caught.value.column, caught.value.reason) == (column, reason)
    assert caught.value.hint and str(caught.value) == f"column {column}: {reason}"


def test_a_bad_line_is_reported_and_the_rest_of_the_file_kept() -> None:
    parsed = parse_rules(f'# header\n{README_RULE}\nGROUP="x\n\n{README_RULE}\n', "f.rules")
    assert [rule.line for rule in parsed.rules] == [2, 5]
    assert [str(error) for error in parsed.errors] == [
        "line 3, column 7: the value of GROUP has no closing double quote"]


def test_continuations_join_and_keep_the_first_line_number() -> None:
    text = 'A=="1", \\\n  B=="2"\r\n# c\\\nC=="3"\\'
    assert list(logical_lines(text)) == [(1, 'A=="1",   B=="2"'), (4, 'C=="3"')]


def test_unreadable_file_is_one_error(tmp_path: Path) -> None:
    parsed = read_rules_file(tmp_path / "missing.rules")
    assert parsed.rules == () and parsed.errors[0].line == 0
    assert "cannot read it" in parsed.errors[0].message


def test_undecodable_bytes_do_not_stop_the_file(tmp_path: Path) -> None:
    path = tmp_path / "60-x.rules"
    path.write_bytes(b'KERNEL=="\xff\xfe", MODE="0600"\n' + README_RULE.encode())
    parsed = read_rules_file(path)
    assert len(parsed.rules) == 2 and parsed.errors == ()


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('AZ_az{}=!+-:"\\ ,#\n\r\te0|*?[]')) | st.characters(),
               max_size=300))
def test_any_text_gives_rules_or_errors_never_a_crash(text: str) -> None:
    parsed = parse_rules(text)
    lines = text.count("\n") + 1
    for error in parsed.errors:
        assert 1 <= error.line <= lines and error.column >= 1 and error.message
    for rule in parsed.rules:
        assert 1 <= rule.line <= lines and rule.tokens


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_one_line_gives_tokens_or_a_rule_syntax_error(line: str) -> None:
    try:
        tokens = parse_rule_line(line)
    except RuleSyntaxError as exc:
        assert exc.column >= 1 and exc.reason
    else:
        assert tokens


_KEYS = st.sampled_from(["SUBSYSTEM", "KERNEL", "MODE", "GROUP", "TAG", "RUN"])
_TOKENS = st.builds(Token, _KEYS, st.none() | st.sampled_from(["idVendor", "ID_MODEL_ID"]),
                    st.sampled_from(["==", "!=", "=", "+=", "-=", ":="]),
                    st.text(st.characters(blacklist_characters="\n\r", codec="utf-8"),
                            max_size=20).filter(lambda v: not v.endswith("\\")))


@settings(max_examples=200, deadline=None)
@given(st.lists(_TOKENS, min_size=1, max_size=6))
def test_a_written_rule_reads_back_the_same(tokens: list[Token]) -> None:
    text = ", ".join(str(token) for token in tokens)
    assert parse_rule_line(text) == tuple(tokens)
