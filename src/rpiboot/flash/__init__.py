"""``rpiboot flash``: boot boards into a USB mass-storage gadget, write an OS image to their
disk, verify it by reading it back, optionally customise the first FAT partition."""
