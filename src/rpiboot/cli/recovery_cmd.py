"""``rpiboot recovery``: prepare ready-to-serve recovery directories; update-pieeprom."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rpiboot.cli.parsing import ArgumentParser

HELP = "prepare ready-to-serve recovery directories"
BANNER = "!" * 78


def build_parser(prog: str) -> argparse.ArgumentParser:
    """``prepare OUT_DIR`` and ``update-pieeprom`` (the drop-in's options)."""
    from rpiboot.cli import compat_update_pieeprom as update
    from rpiboot.recovery.prepare import FLOWS

    parser = ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    prep = sub.add_parser("prepare", help="build a directory to serve with `rpiboot -d DIR`")
    prep.add_argument("out_dir", type=Path)
    prep.add_argument("--flow", required=True, choices=sorted(FLOWS))
    prep.add_argument("--image", type=Path, required=True, help="pieeprom image to flash")
    prep.add_argument("--recovery-bin", type=Path, required=True, help="recovery.bin")
    prep.add_argument("--boot-conf", type=Path, required=True, help="bootloader config")
    prep.add_argument("-k", "--key", type=Path, help="private key (secure-boot flows)")
    prep.add_argument("-p", "--public-key", type=Path, help="public key (HSM mode)")
    prep.add_argument("-H", "--hsm-wrapper", help="HSM wrapper instead of --key")
    prep.add_argument("--countersign-recovery", action="store_true",
                      help="Pi 5: countersign recovery.bin too (bootcode5.bin)")
    prep.add_argument("--program-pubkey", action="store_true",
                      help="IRREVERSIBLE: lock the board to the key (OTP)")
    prep.add_argument("--program-jtag-lock", action="store_true",
                      help="IRREVERSIBLE: disable JTAG (OTP)")
    prep.add_argument("--revoke-devkey", action="store_true",
                      help="IRREVERSIBLE: revoke the development key (OTP)")
    prep.add_argument("--program-rpiboot-gpio", type=int, metavar="GPIO",
                      help="IRREVERSIBLE: Pi 4B / Pi 400: RPIBOOT when this GPIO is low (OTP)")
    prep.add_argument("--i-understand-this-is-irreversible", dest="confirmed",
                      action="store_true", help="confirm the IRREVERSIBLE options")
    prep.add_argument("--recovery-reboot", action="store_true",
                      help="reboot the board after flashing")
    prep.add_argument("--recovery-metadata", type=int, choices=(0, 1),
                      help="0: recovery.bin sends no metadata")
    prep.add_argument("--uart", action="store_true", help="uart_2ndstage=1 (debug logs)")
    prep.add_argument("--eeprom-write-protect", action="store_true")
    prep.add_argument("--overwrite", action="store_true", help="replace files in OUT_DIR")
    update.add_preflight_arguments(prep)
    update.add_arguments(sub.add_parser("update-pieeprom", help=update.HELP,
                                        description=update.DESCRIPTION))
    return parser


def _prepare(args: argparse.Namespace) -> int:
    from rpiboot.cli.compat_update_pieeprom import preflight_options, print_overrides
    from rpiboot.recovery.prepare import PrepareOptions, prepare_recovery_dir
    from rpiboot.signing import signer_from_options

    signer = signer_from_options(key=args.key, hsm_wrapper=args.hsm_wrapper,
                                 public_key=args.public_key)
    opts = PrepareOptions(
        flow=args.flow, out_dir=args.out_dir, image=args.image, recovery_bin=args.recovery_bin,
        boot_conf=args.boot_conf, signer=signer, public_key=args.public_key,
        countersign_recovery=args.countersign_recovery,
        program_pubkey=args.program_pubkey, program_jtag_lock=args.program_jtag_lock,
        revoke_devkey=args.revoke_devkey, program_rpiboot_gpio=args.program_rpiboot_gpio,
        recovery_reboot=args.recovery_reboot,
        recovery_metadata=None if args.recovery_metadata is None else bool(args.recovery_metadata),
        uart_2ndstage=args.uart, eeprom_write_protect=args.eeprom_write_protect,
        confirmed_irreversible=args.confirmed, overwrite=args.overwrite,
        **preflight_options(args))
    result = prepare_recovery_dir(opts, log=lambda line: print(f"  {line}", flush=True),
                                  on_overrides=print_overrides)
    print(f"{result.out_dir}: ready ({', '.join(result.files)})")
    if result.key_hash:
        print(f"public key hash (CUSTOMER_KEY_HASH): {result.key_hash}")
    if result.warnings:
        print(BANNER, file=sys.stderr)
        print("WARNING: THIS DIRECTORY PERMANENTLY MODIFIES THE BOARD (OTP)", file=sys.stderr)
        for warning in result.warnings:
            print(f"  - {warning}", file=sys.stderr)
        print(BANNER, file=sys.stderr)
    print(f"serve it with: rpiboot -d {result.out_dir}")
    return 0


def run(args: argparse.Namespace) -> int:
    """``prepare`` a recovery directory, or run ``update-pieeprom`` in the current one."""
    if args.action == "update-pieeprom":
        from rpiboot.cli.compat_update_pieeprom import run as update_pieeprom

        return update_pieeprom(args)
    return _prepare(args)
