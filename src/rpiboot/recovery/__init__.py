"""Recovery directories: the update-pieeprom flow and ready-to-serve directory preparation."""

from __future__ import annotations
