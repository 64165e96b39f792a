"""Fixtures of the secure-boot toolchain tests (imported by name: no conftest.py clash)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def eeprom_inputs(vectors_dir: Path) -> Path:
    return vectors_dir / "eeprom" / "_inputs"


@pytest.fixture(scope="session")
def private_pem(eeprom_inputs: Path) -> Path:
    return eeprom_inputs / "example-private.pem"


@pytest.fixture(scope="session")
def public_pem(eeprom_inputs: Path) -> Path:
    return eeprom_inputs / "example-public.pem"


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second RSA-2048 private key (PEM), generated once."""
    from rpiboot.signing.keys import generate_private_key

    path = tmp_path_factory.mktemp("keys") / "other.pem"
    generate_private_key(path)
    return path


@pytest.fixture(scope="session")
def rsa1024_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path = tmp_path_factory.mktemp("keys") / "rsa1024.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path
