"""boot.img: FAT12/16/32 images in pure Python — build, read, extract, sign.

Public API::

    from rpiboot.bootimg import ImageOptions, build_image, FatImage
    build_image("bootfs", "boot.img", ImageOptions(fat_type=None))   # smallest that fits
    with FatImage.open("boot.img") as fs:
        for entry in fs.walk(): ...

Layers: ``geometry`` (mkfs.fat 4.2 layout) → ``names`` (8.3 + long names) → ``tree`` (source
scan) → ``layout`` (plan; every check before writing) → ``writer`` (stream out);
``reader``/``inspect`` (read, list, extract); ``reference``/``dropin`` (the usbboot script's
estimate, pruning and fallbacks); ``signed`` (boot.img + boot.sig together).
"""

from __future__ import annotations

from rpiboot.bootimg.geometry import FatGeometry, GeometryError
from rpiboot.bootimg.layout import ImageOptions, ImagePlan, plan_image
from rpiboot.bootimg.reader import FatEntry, FatImage
from rpiboot.bootimg.writer import build_image, write_image

__all__ = ["FatEntry", "FatGeometry", "FatImage", "GeometryError", "ImageOptions", "ImagePlan",
           "build_image", "plan_image", "write_image"]
