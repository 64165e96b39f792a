"""rpiboot: boot Raspberry Pi boards over USB, and the secure-boot toolchain around it."""

__version__ = "0.1.0"
