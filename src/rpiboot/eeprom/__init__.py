"""Bootloader SPI EEPROM images: parse, inspect and edit the section chain."""

from __future__ import annotations
