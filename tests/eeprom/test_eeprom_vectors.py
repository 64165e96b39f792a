"""Every golden vector of ../shared/vectors/eeprom, run through our drop-in tools.

Each case's cmd.sh runs unchanged with our console scripts first on PATH (see
vector_harness.py).  Outputs must have the reference's SHA-256 and the ``rc=`` values must be
the reference's, except the deliberate fixes listed in DEVIATIONS (also in the README).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vector_harness import EMPTY_SHA256, expected_outputs, expected_rcs, run_case

ABSENT = "absent"  # the reference leaves an EMPTY file behind on failure; we write nothing
DIFFERS = "differs"


@dataclass(frozen=True)
class Deviation:
    reason: str
    outputs: dict[str, str] = field(default_factory=dict)
    rcs: dict[int, int] = field(default_factory=dict)  # index of the rc= line -> our status


DEVIATIONS: dict[str, Deviation] = {
    "bootcode-overflow-2712": Deviation(
        "--bootcode that overflows its section is rejected (reference corrupts the image)",
        {"outputs/pieeprom-overflow.bin": ABSENT}, {1: 1}),
    "bootcode-replace-2711-error": Deviation(
        "no empty --out file on failure", {"outputs/pieeprom.bin": ABSENT}),
    "config-errors": Deviation(
        "no empty --out file on failure",
        {"outputs/missing-config.bin": ABSENT, "outputs/rsa1024.bin": ABSENT}),
    "config-too-large": Deviation(
        "no empty --out file on failure", {"outputs/pieeprom.bin": ABSENT}),
    "digest-bootimg-sign-verify": Deviation(
        "-v accepts a private PEM (reference: OpenSSL 3 refuses it); -v checks the sha256 line",
        rcs={3: 0, 6: 1}),
    "digest-errors": Deviation(
        "usage errors (missing -o, unknown option) exit 2 and print usage to stderr "
        "(reference: usage on stdout, exit 0)",
        {"outputs/noout.stdout": DIFFERS}, {1: 2, 4: 2}),
    "extract-x-with-out": Deviation(
        "-x with --out does not create an empty --out file",
        {"outputs/should-be-empty.bin": ABSENT}),
    "hsm-wrapper-failure": Deviation(
        "a failing HSM wrapper is an error (exit 1) and nothing is written (pinned reference: "
        "exit 0 + empty rsa2048 line; master: exit 3 + 2-line .sig)",
        {"outputs/pinned.sig": ABSENT, "outputs/master.sig": ABSENT,
         "outputs/signed.bin": ABSENT}, {0: 1, 1: 1}),
    "missing-bootconf": Deviation(
        "reading an image without bootconf.txt is an error (reference: empty output, exit 0)",
        {"outputs/x.bin": ABSENT}, {0: 1}),
    "section-space-errors": Deviation(
        "data must fit with its 24-byte header (reference checks n+20: 2284 bytes corrupt "
        "the next section)",
        {"outputs/pieeprom-2711-cacert2284.bin": ABSENT,
         "outputs/pieeprom-2711-cacert2285.bin": ABSENT}, {3: 1}),
    "sign-bootcode-2711-hmac": Deviation(
        "no empty -o file on failure", {"outputs/badhmac.bin": ABSENT}),
    "sign-bootcode-2712-small": Deviation(
        "-d debug text is our own wording (diagnostic only)", {"outputs/debug-log.txt": DIFFERS}),
    "sign-bootcode-errors": Deviation(
        "unknown -c chip is a usage error (reference: silently does nothing, exit 0); no "
        "empty -o files on failure",
        {"outputs/e1.bin": ABSENT, "outputs/e3.bin": ABSENT, "outputs/e5.bin": ABSENT,
         "outputs/max-plus1.signed.bin": ABSENT}, {7: 2}),
    "update-pieeprom-errors": Deviation(
        "captured stderr is our own wording", {"outputs/rsa1024-stderr.txt": DIFFERS}),
}
OUT_OF_SCOPE = {
    "otp-private-key-shim": "rpi-otp-private-key runs on a Raspberry Pi (vcmailbox); not "
    "part of the usbboot host toolchain",
}


def _vector_root() -> Path:
    repo = Path(__file__).resolve().parents[2]
    shared = Path(os.environ.get("RPIBOOT_SHARED", repo.parent / "shared"))
    return shared / "vectors" / "eeprom"


def _cases() -> list[str]:
    root = _vector_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


@pytest.mark.parametrize("case", [c for c in _cases() if c not in OUT_OF_SCOPE])
def test_vector_case(case: str, vectors_dir: Path, tmp_path: Path) -> None:
    vector = vectors_dir / "eeprom" / case
    deviation = DEVIATIONS.get(case, Deviation(""))
    result = run_case(vectors_dir / "eeprom", case, tmp_path)

    want_rcs = expected_rcs(vector)
    for index, ours in deviation.rcs.items():
        assert want_rcs[index] != ours, f"deviation {index} of {case} is not a deviation"
        want_rcs[index] = ours
    assert result.rcs() == want_rcs, f"{case}: exit statuses\n{result.stdout}\n{result.stderr}"

    for name, digest in expected_outputs(vector).items():
        got = result.output_sha256(name)
        expectation = deviation.outputs.get(name)
        if expectation == ABSENT:
            assert digest == EMPTY_SHA256 or got is None
            assert got is None, f"{case}: {name} must not be written on failure"
        elif expectation == DIFFERS:
            assert got is not None and got != digest, f"{case}: {name} deviation is stale"
        else:
            assert got == digest, f"{case}: {name} differs from the reference\n{result.stderr}"


def test_every_case_is_covered() -> None:
    cases = set(_cases())
    assert cases, "no vectors found"
    assert set(DEVIATIONS) <= cases
    assert set(OUT_OF_SCOPE) <= cases
    # Out of scope stays the exception: every other case runs through test_vector_case.
    assert len(cases - set(OUT_OF_SCOPE)) >= 40
