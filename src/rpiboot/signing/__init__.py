"""Signing: .sig files, RSA-2048 keys and pubkey.bin, HSM wrappers, bootcode countersigning."""

from __future__ import annotations
