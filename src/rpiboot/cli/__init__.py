"""Command-line front ends: parsing and rendering only (the library never prints or exits)."""
