"""Hypothesis strategies: real inputs mutated the way a damaged or crafted file differs.

Each example stacks 1-4 operations (bit flips, overwrites with interesting values, truncation,
extension, splicing, insertion, deletion), placed anywhere or on a structure field of the
real file (``hot`` offsets); shrinking gives the smallest list of operations that fails.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

TOKENS = (b"\0", b"\xff", b"\x7f", b"\x80", b"\xff" * 4, b"\0" * 4, b"9" * 25, b"9" * 5000,
          b"77777777777\0", b"\x80" + (2**40).to_bytes(11, "big"), b"\xff" * 12, b"*", b"_",
          b"\n", b" ", b"\x00\xd8", b"/", b"..", b"\xe5", b"\x0f", b"\x10", b"\x55\xaa")
NUMBERS = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1, 2**40, 2**64 - 1)


def _encoded(value: int, width: int, order: str) -> bytes:
    return (value & ((1 << (8 * width)) - 1)).to_bytes(width, order)  # type: ignore[arg-type]


payloads = st.one_of(
    st.sampled_from(TOKENS),
    st.builds(_encoded, st.sampled_from(NUMBERS) | st.integers(0, 2**64 - 1),
              st.sampled_from((1, 2, 4, 8)), st.sampled_from(("little", "big"))),
    st.sampled_from(NUMBERS).map(lambda n: str(n).encode()),
    st.binary(min_size=1, max_size=64),
)
operations = st.tuples(
    st.sampled_from(("flip", "put", "put", "cut", "extend", "splice", "insert", "delete")),
    st.integers(0, 2**31), st.booleans(), st.integers(0, 255), payloads)


def _apply(data: bytearray, op: tuple[str, int, bool, int, bytes], hot: list[int]) -> None:
    kind, where, on_field, small, payload = op
    at = (hot[where % len(hot)] if on_field and hot else where) % (len(data) + 1)
    if kind == "flip" and data:
        data[min(at, len(data) - 1)] ^= 1 << (small % 8)
    elif kind == "put":
        data[at:at + len(payload)] = payload
    elif kind == "cut":
        del data[at:]
    elif kind == "extend":
        data += payload * (small + 1)
    elif kind == "splice" and data:
        chunk = bytes(data[where % len(data):where % len(data) + small + 1])
        data[at:at + len(chunk)] = chunk
    elif kind == "insert":
        data[at:at] = payload
    elif kind == "delete":
        del data[at:at + small + 1]


def mutated(originals: list[bytes], hot: list[list[int]], *, keep_size: bool = False,
            fixup: Callable[[bytearray, list[int]], None] | None = None
            ) -> st.SearchStrategy[bytes]:
    """One of ``originals`` with 1-4 operations applied (``keep_size``: cut or padded back
    to its size; ``fixup``: e.g. recompute checksums so the parser looks further)."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        which = draw(st.integers(0, len(originals) - 1))
        data = bytearray(originals[which])
        for op in draw(st.lists(operations, min_size=1, max_size=4)):
            _apply(data, op, hot[which])
        if keep_size:
            size = len(originals[which])
            data = data[:size] + b"\xff" * (size - len(data))
        if fixup is not None and draw(st.booleans()):
            fixup(data, hot[which])
        return bytes(data)

    return build()
