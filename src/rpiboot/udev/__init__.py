"""udev rules on Linux: read them (``rules``), tell which ones give access to Raspberry Pi
boot devices (``coverage``), and write rpiboot's own (``install``).

Pure functions on text and paths: nothing here touches USB, and nothing prints.
"""
