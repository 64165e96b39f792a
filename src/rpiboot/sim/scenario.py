"""Bench-format scenarios in-process: build the boot directory, plug the boards into a bus.

The JSON format is the one of ``../shared/bench`` (see docs/simulator.md), so one scenario
file can drive both the in-process simulator and the umockdev bench.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpiboot.sim.bus import VirtualBus

TAR_MTIME = 1700000000  # fixed member metadata: archives are reproducible


def file_bytes(spec: Mapping[str, Any], seed: str) -> bytes:
    """Bytes of one boot-directory entry: random (deterministic), text or hex."""
    if "random" in spec:
        return hashlib.shake_256(seed.encode()).digest(int(spec["random"]))
    if "text" in spec:
        return str(spec["text"]).encode()
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    raise ValueError(f"file spec {dict(spec)!r}: needs random, text, hex, tar, dir or symlink")


def tar_bytes(members: Mapping[str, Mapping[str, Any]], seed: str,
              content: dict[str, bytes]) -> bytes:
    """A USTAR archive of ``members``; records each member's bytes as ``tar:NAME``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, spec in members.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = TAR_MTIME, 0, 0, "", ""
            if spec.get("dir"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
                continue
            data = file_bytes(spec, f"{seed}:{name}")
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
            content["tar:" + name] = data
    return buffer.getvalue()


def build_bootdir(scenario: Mapping[str, Any], workdir: Path) -> dict[str, bytes]:
    """Create ``workdir/boot`` from the scenario's ``bootdir``; return ``file:``/``tar:`` bytes."""
    bootdir = workdir / "boot"
    bootdir.mkdir(parents=True, exist_ok=True)
    for extra in scenario.get("workdir_dirs", []):
        (workdir / extra).mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(workdir)
    content: dict[str, bytes] = {}
    links: list[tuple[str, str, Path]] = []
    for rel, spec in scenario.get("bootdir", {}).items():
        dest = Path(os.path.realpath(bootdir / rel))
        if not (str(dest) == root or str(dest).startswith(root + os.sep)):
            raise ValueError(f"bootdir entry {rel!r} leaves the work directory")
        if "symlink" in spec:
            links.append((rel, spec["symlink"], dest))
            continue
        if spec.get("dir"):
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        seed = f"{scenario.get('name', 'scenario')}:{rel}"
        data = tar_bytes(spec["tar"], seed, content) if "tar" in spec else file_bytes(spec, seed)
        dest.write_bytes(data)
        content["file:" + rel] = data
    for rel, target, dest in links:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, dest)
        if dest.is_file():
            content["file:" + rel] = dest.read_bytes()
    return content


def expand_args(template: str, workdir: Path) -> list[str]:
    """A scenario's ``tool_args`` with ``{bootdir}``/``{workdir}`` filled in, split into words."""
    import shlex

    text = template.replace("{bootdir}", str(workdir / "boot"))
    return shlex.split(text.replace("{workdir}", str(workdir)))


@dataclass
class Scenario:
    """A loaded scenario: its boot directory under ``workdir`` and a bus with its boards."""

    spec: dict[str, Any]
    workdir: Path
    bus: VirtualBus
    content: dict[str, bytes] = field(default_factory=dict)

    @property
    def bootdir(self) -> Path:
        return self.workdir / "boot"

    @property
    def tool_args(self) -> list[str]:
        return expand_args(self.spec.get("tool_args", "-d {bootdir}"), self.workdir)

    @classmethod
    def load(cls, source: str | os.PathLike[str] | Mapping[str, Any], workdir: Path, *,
             time_scale: float = 1.0, boot_dir: Path | None = None) -> Scenario:
        """Load a scenario file (or dict).  ``boot_dir``: serve this existing directory
        instead of generating one (content expectations then accept anything)."""
        if isinstance(source, Mapping):
            spec = copy.deepcopy(dict(source))
        else:
            spec = json.loads(Path(source).read_text(encoding="utf-8"))
            spec.setdefault("name", Path(source).stem)
        workdir.mkdir(parents=True, exist_ok=True)
        if boot_dir is None:
            content = build_bootdir(spec, workdir)
        else:
            content = {}
            relax_expectations(spec)
        bus = VirtualBus(time_scale=time_scale)
        for hub in spec.get("hubs", []):
            bus.add_hub(hub["port"])
        for device in spec.get("devices", []):
            bus.add_board(device, content)
        return cls(spec, workdir, bus, content)


def relax_expectations(spec: dict[str, Any]) -> None:
    """Make every content expectation of ``spec`` accept whatever the host sends."""
    for device in spec.get("devices", []):
        device.get("rom", {}).pop("expect_bootcode", None)
        for step in device.get("second_stage", {}).get("steps", []):
            if step.get("op") in ("fetch", "get_file_size", "read_file"):
                step["expect"] = "any"
