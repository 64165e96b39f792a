"""``rpiboot flash``: boot boards into USB mass storage, write an OS image, verify it."""
