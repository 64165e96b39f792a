"""The drop-in ``rpi-make-boot-image`` as a library call: reference geometry, or a fit.

Wherever the reference script succeeds we build the same FAT type and size.  Where it fails
(mkfs.fat rejects the size, the content does not fit, the root directory overflows) we pick
a geometry that fits and return a note saying how and why it differs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from rpiboot.bootimg.geometry import FatGeometry, GeometryError, mkfs_geometry
from rpiboot.bootimg.layout import ImageOptions, ImagePlan, plan_image
from rpiboot.bootimg.reference import (
    FAT_OVERHEAD_KIB,
    ReferenceSize,
    estimate_clusters,
    reference_keep,
    reference_size,
)
from rpiboot.bootimg.tree import SourceDir, scan_tree, without_outputs
from rpiboot.errors import InputError, UsageError


@dataclass(frozen=True)
class DropInSettings:
    """The reference's environment overrides, parsed."""

    sector_size: int = 512
    sectors_per_cluster: int = 1
    root_entries: int = 256
    fat_size: int | None = None  # FAT_SIZE, honoured only with IMAGE_SIZE
    image_size_mib: int = 0
    overhead_kib: int = FAT_OVERHEAD_KIB

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DropInSettings:
        def number(name: str, default: int, allowed: tuple[int, ...] | None = None) -> int:
            raw = env.get(name, "").strip()
            if raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                raise UsageError(f"{name}={raw!r} is not a number") from None
            if value < 0 or (allowed and value not in allowed):
                choices = ", ".join(map(str, allowed)) if allowed else "a number >= 0"
                raise UsageError(f"{name}={raw!r} is not valid", hint=f"use {choices}")
            return value

        fat = number("FAT_SIZE", 0, (12, 16, 32))
        return cls(sector_size=number("SECTOR_SIZE", 512, (512, 1024, 2048, 4096)),
                   sectors_per_cluster=number("SECTORS_PER_CLUSTER", 1,
                                              (1, 2, 4, 8, 16, 32, 64, 128)),
                   root_entries=number("ROOT_DIR_ENTRIES", 256) or 256,
                   fat_size=fat or None, image_size_mib=number("IMAGE_SIZE", 0),
                   overhead_kib=number("FAT_OVERHEAD", FAT_OVERHEAD_KIB))


@dataclass
class DropInPlan:
    plan: ImagePlan
    reference: ReferenceSize
    notes: list[str]

    @property
    def size_kib(self) -> int:
        return self.plan.geometry.image_bytes // 1024


def _describe(geometry: FatGeometry) -> str:
    return f"FAT{geometry.fat_type}, {geometry.image_bytes // 1024} KiB"


def plan_dropin(source: str | os.PathLike[str], *, arch: str, board: str | None,
                settings: DropInSettings, timestamp: int,
                output: str | os.PathLike[str] | None = None) -> DropInPlan:
    """Plan the image the reference would make from ``source`` (or one that fits); an
    ``output`` inside ``source`` is left out, as the reference deletes it first."""
    keep = without_outputs(source, [output] if output is not None else [],
                           reference_keep(board, arch))
    tree = scan_tree(source, keep)
    if settings.image_size_mib:
        reference = ReferenceSize(settings.image_size_mib * 1024, settings.fat_size, None)
    else:
        clusters = estimate_clusters(source, keep,
                                     settings.sector_size * settings.sectors_per_cluster)
        reference = reference_size(clusters, sector_size=settings.sector_size,
                                   sectors_per_cluster=settings.sectors_per_cluster,
                                   root_entries=settings.root_entries,
                                   overhead_kib=settings.overhead_kib)
    base = ImageOptions(sector_size=settings.sector_size,
                        sectors_per_cluster=settings.sectors_per_cluster, num_fats=1,
                        label="BOOT", timestamp=timestamp)
    try:
        geometry = mkfs_geometry(reference.size_kib, fat_type=reference.fat_type,
                                 sector_size=settings.sector_size,
                                 sectors_per_cluster=settings.sectors_per_cluster, num_fats=1,
                                 root_entries=settings.root_entries)
        options = replace(base, geometry=geometry)
        return DropInPlan(plan_image(tree, options), reference, [])
    except InputError as err:  # GeometryError (mkfs.fat / disk full) or root overflow
        reason = err.message
    plan = _fallback(tree, base, reference, settings)
    wanted = f"FAT{reference.fat_type or '(auto)'}, {reference.size_kib} KiB"
    note = (f"geometry differs from the reference rpi-make-boot-image, which fails here:"
            f" {reason}; using {_describe(plan.geometry)} instead of {wanted}")
    return DropInPlan(plan, reference, [note])


def _fallback(tree: SourceDir, base: ImageOptions, reference: ReferenceSize,
              settings: DropInSettings) -> ImagePlan:
    """The reference's FAT type at the size that fits, else the smallest type that fits."""
    types = [reference.fat_type] if reference.fat_type else []
    last: InputError | None = None
    for fat_type in [*types, None]:
        options = replace(base, fat_type=fat_type, min_root_entries=settings.root_entries)
        try:
            return plan_image(tree, options)
        except (GeometryError, InputError) as err:
            last = err
    assert last is not None
    raise last
