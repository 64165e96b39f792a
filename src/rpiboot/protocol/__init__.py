"""The RPIBOOT USB protocol: message pack/parse, the ROM stage and the file server."""
