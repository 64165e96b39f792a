"""Files a second stage cannot do without, and what the board does when one is missing.

A real second stage answered "size 0" (not found, or empty: the wire cannot tell them
apart) for a file it needs does not finish its job: the msd firmware cannot start without
start.elf / start4.elf, the mass-storage gadget has no Linux without boot.img, recovery.bin
has nothing to flash without pieeprom.bin.  Scenario steps mark such files (simulator-only
keys, which the bench ignores)::

    {"op": "fetch", "name": "start4.elf", "required": true,
     "why": "the firmware cannot start", "hint": "copy start4.elf from usbboot's msd/"}
    {"op": "fetch", "name": "pieeprom.upd", "expect": "absent", "required": "eeprom image"},
    {"op": "fetch", "name": "pieeprom.bin", "required": "eeprom image", "why": "nothing to flash"}

``"required": true`` is a file of its own; a text names a group of alternatives: the board
fails when the last step of the group was answered and no step of it got a file.  What the
board does next is the second stage's ``"on_failure"`` (see :data:`FAILURE_ACTIONS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# After a board failure: "disappear" (stops asking, drops off the bus after ``delay`` s: the
# firmware gave up and the chip resets), "stay" (stops asking, stays attached and NAKs every
# message read: the host times out), "continue" (carries on with its script, like recovery.bin
# that still asks for its remaining files and sends Done, then shows the error on its LED).
FAILURE_ACTIONS = ("disappear", "stay", "continue")
DEFAULT_ON_FAILURE: Mapping[str, Any] = {"action": "disappear", "delay": 0.3}
DEFAULT_WHY = "the second stage cannot go on without it"
REQUIRABLE_OPS = ("fetch", "get_file_size", "read_file")


@dataclass(frozen=True)
class BoardFailure:
    """Why a board failed: the file(s) it needed (any one of ``needs``) and what for."""

    step: int
    needs: tuple[str, ...]
    why: str
    hint: str = ""

    @property
    def missing(self) -> str:
        """The missing file(s) as words: "boot.img", "pieeprom.upd or pieeprom.bin"."""
        return " or ".join(self.needs)

    @property
    def reason(self) -> str:
        if len(self.needs) == 1:
            return f"{self.needs[0]} not found: {self.why}"
        return f"neither {' nor '.join(self.needs)} found: {self.why}"


@dataclass(frozen=True)
class _Group:
    steps: tuple[int, ...]
    names: tuple[str, ...]
    why: str
    hint: str


class RequiredFiles:
    """The required steps of one second-stage script; :meth:`answered` tells when it failed."""

    def __init__(self, raw_steps: Sequence[Mapping[str, Any]]) -> None:
        members: dict[str, list[int]] = {}
        for i, raw in enumerate(raw_steps):
            flag = raw.get("required", False)
            if flag is False or flag is None or raw.get("op") not in REQUIRABLE_OPS:
                continue
            key = f"#{i}" if flag is True else str(flag)
            members.setdefault(key, []).append(i)
        self._groups: dict[int, _Group] = {}
        for indices in members.values():
            group = _Group(tuple(indices), tuple(_name(raw_steps[i]) for i in indices),
                           _first(raw_steps, indices, "why") or DEFAULT_WHY,
                           _first(raw_steps, indices, "hint"))
            for i in indices:
                self._groups[i] = group
        self._found: set[tuple[int, ...]] = set()

    def __bool__(self) -> bool:
        return bool(self._groups)

    def answered(self, step: int, size: int) -> BoardFailure | None:
        """Record the host's answer (a size) to ``step``; the failure it completes, if any."""
        group = self._groups.get(step)
        if group is None:
            return None
        if size > 0:
            self._found.add(group.steps)
            return None
        if step != group.steps[-1] or group.steps in self._found:
            return None
        return BoardFailure(step, group.names, group.why, group.hint)


def _name(raw: Mapping[str, Any]) -> str:
    if "name_hex" in raw:
        return bytes.fromhex(raw["name_hex"]).decode("utf-8", "backslashreplace")
    return str(raw.get("name", ""))


def _first(raw_steps: Sequence[Mapping[str, Any]], indices: Sequence[int], key: str) -> str:
    return next((str(raw_steps[i][key]) for i in indices if raw_steps[i].get(key)), "")


def failure_behaviour(second_stage: Mapping[str, Any], where: str) -> tuple[str, float]:
    """The second stage's ``on_failure`` as (action, delay in board seconds)."""
    spec = second_stage.get("on_failure", DEFAULT_ON_FAILURE)
    if isinstance(spec, str):
        spec = {"action": spec}
    action = str(spec.get("action", DEFAULT_ON_FAILURE["action"]))
    if action not in FAILURE_ACTIONS:
        raise ValueError(f"{where}: on_failure action {action!r}: choose one of "
                         + ", ".join(FAILURE_ACTIONS))
    return action, float(spec.get("delay", DEFAULT_ON_FAILURE["delay"]))
