"""``rpiboot flash``: boot boards into a USB mass-storage gadget, write an OS image to each,
verify it, and customise each board's boot partition."""
