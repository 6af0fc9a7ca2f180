"""``nhip certs make``: a test certificate authority and one certificate per controller.

A folder that already holds an authority (``ca.pem`` with ``ca.key``) keeps it: the new
certificates are signed by it, so every certificate issued there before still verifies
and a controller can be added without locking the others out. A new authority replaces
the old one only when ``--new-ca`` asks for it.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

# A test authority for pilots and labs; ten years is already far longer than one should
# live, and it keeps the expiry date inside what X.509 and datetime can express.
MAX_DAYS = 3650


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("certs", help="make TLS certificates for optimizer links")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    make = actions.add_parser(
        "make", help="write a test authority, the optimizer's certificate and one "
                     "certificate per controller and operator",
        description="Writes the optimizer's certificate and one certificate per controller "
                    "and operator into --out. If --out already holds an authority (ca.pem "
                    "and ca.key), it is kept and signs the new certificates, so those "
                    "issued there before stay valid; --new-ca replaces it, after which "
                    "every certificate it signed stops verifying.")
    make.add_argument("--out", type=Path, required=True, help="folder to write into")
    make.add_argument("--controllers", required=True, type=_name_list("--controllers"),
                      help="comma-separated junction ids, e.g. TP,J2 (letters, digits, "
                           "'-', '_', '.')")
    make.add_argument("--operators", default=["operator"], type=_name_list("--operators"),
                      help="comma-separated operator names (default: operator)")
    make.add_argument("--days", type=_days, default=30,
                      help=f"validity in days, 1 to {MAX_DAYS} (default 30); with a kept "
                           "authority, no longer than it lasts")
    make.add_argument("--new-ca", action="store_true",
                      help="replace the authority in --out with a new one (certificates "
                           "signed by the old one stop verifying)")
    make.set_defaults(handler=_make)


def _name_list(flag: str):
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        for name in names:
            if not all(c.isalnum() or c in "-_." for c in name):
                raise argparse.ArgumentTypeError(
                    f"{name!r}: names are letters, digits, '-', '_' or '.'")
        return names

    return parse


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, got {text!r}") \
            from None
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_DAYS}, got {text}")
    return value


def _make(args: argparse.Namespace) -> int:
    from optimizer.tls import make_test_pki

    if not args.controllers:
        raise SystemExit("--controllers: give at least one junction id")
    ca_pem, ca_key = args.out / "ca.pem", args.out / "ca.key"
    if args.out.exists() and not args.out.is_dir():
        raise SystemExit(f"--out: {args.out} is not a folder")
    kept = not args.new_ca and (ca_pem.exists() or ca_key.exists())
    try:
        if kept:
            files, expires = _issue_with_existing_ca(args.out, args.controllers,
                                                     args.operators, args.days)
        else:
            files = make_test_pki(args.out, args.controllers, args.operators, args.days)
    except OSError as error:
        raise SystemExit(f"--out: cannot write into {args.out} ({error.strerror})") from None
    for name, path in sorted(files.items()):
        print(f"{name:>24}  {path}")
    if kept:
        print(f"signed by the existing authority {ca_pem}; certificates issued before stay "
              f"valid; none outlives the authority ({expires:%Y-%m-%d %H:%M} UTC)")
    print(f"keys are private (mode 600); keep {ca_key} offline outside tests")
    return 0


def _issue_with_existing_ca(out: Path, controllers: list[str], operators: list[str],
                            days: int) -> tuple[dict[str, Path], dt.datetime]:
    """Signs the server's and each identity's certificate with the authority in ``out``,
    after checking that it is whole, matches its key and has not expired."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from optimizer.tls import make_test_pki

    ca_pem, ca_key_path = out / "ca.pem", out / "ca.key"
    replace = "pass --new-ca to replace it (certificates it signed stop verifying)"
    for path in (ca_pem, ca_key_path):
        if not path.exists():
            raise SystemExit(f"--out: {out} holds an authority without {path.name}; put "
                             f"{path.name} back to add certificates, or {replace}")
    try:
        ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise SystemExit(f"--out: cannot read the authority in {out} ({error}); "
                         f"{replace}") from None
    if ca_cert.public_key().public_numbers() != ca_key.public_key().public_numbers():
        raise SystemExit(f"--out: {ca_key_path} is not the key of {ca_pem}; {replace}")
    now = dt.datetime.now(dt.timezone.utc)
    expires = ca_cert.not_valid_after_utc
    if expires <= now:
        raise SystemExit(f"--out: the authority in {ca_pem} expired on "
                         f"{expires:%Y-%m-%d}; {replace}")
    files = make_test_pki(out, controllers, operators, days, authority=(ca_cert, ca_key))
    return files, expires
