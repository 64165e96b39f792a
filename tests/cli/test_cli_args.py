"""Parsing of the reference flags and our additions (no USB involved)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.cli.boot_flags import build_options, parse_args, rewrite_port_flags
from rpiboot.errors import ExitCode, UsageError

FEW = settings(max_examples=60, deadline=None)


@FEW
@given(st.integers(0, 98))
def test_numeric_port_flags_become_port_numbers(number: int) -> None:
    args = parse_args([f"-{number}"])
    assert args.port_number == number
    assert build_options(args).port_number == number


@FEW
@given(st.integers(99, 999))
def test_port_flags_above_98_are_usage_errors(number: int) -> None:
    with pytest.raises(UsageError) as err:
        rewrite_port_flags([f"-{number}"])
    assert err.value.exit_code == ExitCode.USAGE


@FEW
@given(st.lists(st.text(min_size=1, max_size=8).filter(lambda s: not s.startswith("-")),
                max_size=6))
def test_non_flag_words_are_left_alone(words: list[str]) -> None:
    assert rewrite_port_flags(words) == words


def test_values_that_look_like_port_flags_stay_values() -> None:
    assert rewrite_port_flags(["-i", "-5", "-3"]) == ["-i", "-5", "--port-number", "3"]


def test_reference_flag_meanings(tmp_path: Path) -> None:
    args = parse_args(["-d", str(tmp_path), "-l", "-o", "-m", "25000", "-vv", "-s",
                       "-p", "1-3.*", "-i", "af04b2da"])
    options = build_options(args)
    assert args.verbose == 2
    assert (options.boot_dir, options.loop, options.overlay, options.signed) == (
        tmp_path, True, True, True)
    assert (options.port_path, options.serial) == ("1-3.*", "af04b2da")
    assert options.poll_interval == pytest.approx(0.025)
    assert build_options(parse_args(["-m", "500"])).poll_interval == pytest.approx(0.01)
    assert not options.metadata


def test_j_without_directory_means_metadata_to_stdout() -> None:
    options = build_options(parse_args(["-j"]))
    assert options.metadata and options.metadata_dir is None


def test_j_with_directory_creates_it(tmp_path: Path) -> None:
    target = tmp_path / "meta" / "deeper"
    options = build_options(parse_args(["-j", str(target)]))
    assert options.metadata and options.metadata_dir == target and target.is_dir()


def test_j_on_a_file_is_a_usage_error(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("x")
    with pytest.raises(UsageError):
        build_options(parse_args(["-j", str(a_file)]))


def test_timeout_sets_wait_and_stage_limits() -> None:
    options = build_options(parse_args(["--timeout", "2.5"]))
    assert options.wait_timeout == 2.5
    assert options.stage_timeout == 10.0
    assert build_options(parse_args(["--timeout", "40"])).stage_timeout == 40.0


@pytest.mark.parametrize("argv", [["-o"], ["--timeout", "0"], ["--bogus"], ["-m", "x"],
                                  ["-d"], ["-m", "-1"]])
def test_bad_command_lines_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_args(argv)


def test_json_wins_over_quiet() -> None:
    args = parse_args(["--json", "--quiet"])
    assert args.json_mode and not args.quiet
