"""Build one umockdev testbed of simulated USB devices, run commands against it, report.

Run as ``umockdev-wrapper /usr/bin/python3 umockdev_bed.py SPEC.json`` (Debian's python3:
it has the GObject bindings umockdev needs).  The devices are the bench's models
(``../shared/bench/rpisim``): the testbed gets their sysfs records, udev properties and
``/dev/bus/usb`` nodes, exactly as the e2e bench builds them, and a program run with the
testbed's environment sees them through the real libusb.

SPEC: {"bench": DIR, "hubs": [...], "devices": [...], "runs": [...]}; every device of
"devices" sits at its stage for the whole run (nothing boots it).  Each run is
{"name", "argv", "env", "as_nobody"}; ``as_nobody`` runs it as uid/gid 65534 with no
supplementary groups (setpriv).  Prints one JSON object: each run's exit status and output,
and the device-side events (to prove nothing was opened, claimed or sent to).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _models(bench: str) -> dict:
    sys.path.insert(0, bench)
    names = ("rpisim.umockdev_host", "rpisim.bcm", "rpisim.usbdev", "rpisim.disks")
    host, bcm, usbdev, disks = (importlib.import_module(name) for name in names)
    return {"host": host, "bcm": bcm, "usbdev": usbdev, "disks": disks}


def _hub(m: dict, transcript: object, spec: dict) -> object:
    usbdev = m["usbdev"]
    attrs = 0xE0 if spec.get("self_powered", True) else 0xA0
    dd = usbdev.device_descriptor(0x05E3, 0x0608, 0x6060, product=1, dev_class=9,
                                  dev_protocol=1)
    cd = usbdev.config_descriptor([usbdev.interface_descriptor(
        0, [usbdev.endpoint_descriptor(0x81, 3, 1, 12)], cls=9)], attrs=attrs,
        max_power_2ma=50)
    hub = m["bcm"].PlainDevice(spec["port"], "hub", dd, cd, {1: spec.get("product", "USB2.0 Hub")},
                               transcript)
    hub.hub_ports = 4
    return hub


def _device(m: dict, transcript: object, storage: object, spec: dict) -> object:
    bcm, usbdev, kind = m["bcm"], m["usbdev"], spec["kind"]
    dev_id = spec.get("id", spec["port"])
    pid = int(spec.get("pid", "2711"), 16)
    if kind == "rom":
        dev = bcm.BcmRom(dev_id, transcript, pid=pid, serial_index=spec.get("serial_index", 3),
                         serial=spec.get("serial", "af04b2da"))
    elif kind == "fileserver":
        dev = bcm.BcmFileServer(dev_id, transcript, [], pid=pid,
                                serial_index=spec.get("serial_index", 4),
                                serial=spec.get("serial", "b29d2da0"))
    elif kind == "gadget":
        dev = bcm.msd_gadget(dev_id, transcript, serial=spec.get("serial", "0123456789abcdef"))
        dev.disks = [m["disks"].Disk(f"{dev_id}/{d['name']}", d["name"], d["bytes"],
                                     owner=dev_id, lun=lun, seed=d["name"])
                     for lun, d in enumerate(spec.get("disks", []))]
        storage.disks += dev.disks
    else:  # any other device: a descriptor and nothing more
        dd = usbdev.device_descriptor(int(spec["vid"], 16), pid, 0x0100, product=1)
        cd = usbdev.config_descriptor([usbdev.interface_descriptor(
            0, [usbdev.endpoint_descriptor(0x81, 3, 8, 10)], cls=3)])
        dev = bcm.PlainDevice(dev_id, "other", dd, cd, {1: spec.get("product", "Device")},
                              transcript)
    if spec.get("speed"):
        dev.speed = spec["speed"]  # "full": what sysfs says of a board on a bad link
    return dev


def _chmod_nodes(host: object, bus: object, spec: dict) -> None:
    modes = {d["port"]: int(d["mode"], 8) for d in spec["devices"] if "mode" in d}
    for port, dev in bus.ports.items():
        node = os.path.join(host.root_dir, "dev", "bus", "usb", "001", f"{dev.devnum:03d}")
        os.chmod(node, modes.get(port, 0o666))


def _run(host: object, run: dict) -> dict:
    env = host.env()
    env.update(run.get("env", {}))
    argv = (NOBODY if run.get("as_nobody") else []) + run["argv"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    # the preload binds each process's udev monitor to ROOT/event<fd> and leaves it there:
    # a later run as another user could not bind the same name
    for name in os.listdir(host.root_dir):
        if name.startswith("event"):
            os.unlink(os.path.join(host.root_dir, name))
    return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def main(spec_path: str) -> None:
    with open(spec_path) as handle:
        spec = json.load(handle)
    m = _models(spec["bench"])
    transcript = m["usbdev"].Transcript()
    bus = m["bcm"].VirtualBus(transcript)
    storage = m["disks"].Storage(transcript)
    devices = [_device(m, transcript, storage, d) for d in spec["devices"]]
    host = m["host"].UmockdevUsbHost(bus, m["bcm"].root_hub(transcript), storage)
    # a user other than root must reach the testbed, and bind its udev monitor socket there
    os.chmod(host.root_dir, 0o1777)
    for hub in spec.get("hubs", []):
        bus.attach(_hub(m, transcript, hub), hub["port"])
    for dev, dev_spec in zip(devices, spec["devices"], strict=True):
        bus.attach(dev, dev_spec["port"])
        if getattr(dev, "disks", None):
            storage.attach(dev.disks, dev)
    _chmod_nodes(host, bus, spec)
    runs = {run["name"]: _run(host, run) for run in spec.get("runs", [])}
    events = [{k: e.get(k) for k in ("dev", "ev")} for e in transcript.snapshot()]
    json.dump({"runs": runs, "events": events}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
