"""Authenticated optimizer links: a test certificate authority, TLS credentials and the
rule that a controller may read and write only its own junction.

Identities travel in the certificate's subject alternative name as a URI:
``urn:nhip:controller:<junction id>`` for a junction's controller and
``urn:nhip:operator:<name>`` for operator tools (emergency corridors span junctions, so
only operators may request them; only a junction's own controller may register it). The server requires a client certificate signed by
its authority; a controller whose identity does not match the junction it names gets
PERMISSION_DENIED.

``make_test_pki`` is for tests, pilots and labs: it writes the authority's private key
next to the certificates. A deployment keeps the authority offline.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger("nhip.optimizer")

URI_PREFIX = "urn:nhip:"
ROLES = ("controller", "operator")
# The name controllers check in the optimizer's certificate (with localhost/127.0.0.1).
SERVER_NAME = "nhip-optimizer"
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Identity:
    role: str
    name: str

    @property
    def uri(self) -> str:
        return f"{URI_PREFIX}{self.role}:{self.name}"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    path.write_bytes(data)
    if secret:
        os.chmod(path, 0o600)


def _check_name(kind: str, name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"{kind}: {name!r} must be letters, digits, '-', '_' or '.'")


def make_test_pki(out: Path, controllers: list[str], operators: list[str] = ("operator",),
                  days: int = DEFAULT_DAYS, authority=None) -> dict[str, Path]:
    """Writes ca.pem/ca.key, server.pem/.key and one certificate and key per identity
    (controller-<id>.pem, operator-<name>.pem). Returns the files by name.

    ``authority``, a (certificate, private key) pair, signs the new certificates instead
    of a new authority; ca.pem and ca.key are then left as they are, and no certificate
    outlives the authority."""
    for name in controllers:
        _check_name("controllers", name)
    for name in operators:
        _check_name("operators", name)
    if days <= 0:
        raise ValueError(f"days: must be positive, got {days}")
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    not_after = now + dt.timedelta(days=days)
    files = {"ca": out / "ca.pem", "ca_key": out / "ca.key"}
    if authority is None:
        ca_key = _key()
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nhip test authority")])
        ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                False, False), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        _write(files["ca"], ca_cert.public_bytes(serialization.Encoding.PEM))
        _write(files["ca_key"], _pem_key(ca_key), secret=True)
    else:
        ca_cert, ca_key = authority
        not_after = min(not_after, ca_cert.not_valid_after_utc)
    ca_name = ca_cert.subject

    def issue(stem: str, common_name: str, names: list[x509.GeneralName], server: bool):
        key = _key()
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else \
            x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(not_after)
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        files[stem] = out / f"{stem}.pem"
        files[f"{stem}_key"] = out / f"{stem}.key"
        _write(files[stem], cert.public_bytes(serialization.Encoding.PEM))
        _write(files[f"{stem}_key"], _pem_key(key), secret=True)

    issue("server", SERVER_NAME, [x509.DNSName(SERVER_NAME), x509.DNSName("localhost"),
                                  x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], True)
    for role, names in (("controller", controllers), ("operator", operators)):
        for name in names:
            identity = Identity(role, name)
            issue(f"{role}-{name}", name, [x509.UniformResourceIdentifier(identity.uri)], False)
    return files


# Certificates this close to their end are announced in the log at start, so that an
# operator renews them before controllers find the link refused and decide alone.
EXPIRY_WARNING_DAYS = 7


def check_expiry(paths: list[Path], now: dt.datetime | None = None) -> list[str]:
    """Logs an error for each certificate that has expired or is not valid yet, and a
    warning for each that ends within ``EXPIRY_WARNING_DAYS``; returns the messages.
    A TLS handshake refused for an expired certificate shows the other side only a
    closed connection, so this is where the cause is said."""
    now = now or dt.datetime.now(dt.timezone.utc)
    notes = []
    for path in paths:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        ends, starts = cert.not_valid_after_utc, cert.not_valid_before_utc
        if ends <= now or starts > now:
            note = (f"certificate {path} is valid only from {starts:%Y-%m-%d %H:%M} to "
                    f"{ends:%Y-%m-%d %H:%M} UTC; TLS links that use it are refused: make "
                    "new ones (nhip certs make --out FOLDER keeps the authority)")
            log.error("%s", note)
        elif ends - now < dt.timedelta(days=EXPIRY_WARNING_DAYS):
            note = (f"certificate {path} expires on {ends:%Y-%m-%d %H:%M} UTC; renew it "
                    "before then (nhip certs make --out FOLDER keeps the authority)")
            log.warning("%s", note)
        else:
            continue
        notes.append(note)
    return notes


def server_credentials(pki: Path) -> grpc.ServerCredentials:
    """The optimizer's TLS credentials; clients must present a certificate from ``ca.pem``."""
    check_expiry([pki / "ca.pem", pki / "server.pem"])
    return grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
        root_certificates=(pki / "ca.pem").read_bytes(), require_client_auth=True)


def client_credentials(pki: Path, role: str, name: str) -> grpc.ChannelCredentials:
    """Credentials for ``controller-<name>`` or ``operator-<name>`` from a PKI folder."""
    if role not in ROLES:
        raise ValueError(f"role: must be one of {ROLES}, got {role!r}")
    stem = pki / f"{role}-{name}"
    check_expiry([pki / "ca.pem", stem.with_suffix(".pem")])
    return grpc.ssl_channel_credentials((pki / "ca.pem").read_bytes(),
                                        stem.with_suffix(".key").read_bytes(),
                                        stem.with_suffix(".pem").read_bytes())


def identity_of(context) -> Identity | None:
    """The caller's identity from its verified certificate; None on a plain-text link."""
    auth = context.auth_context()
    pems = auth.get("x509_pem_cert") or []
    if not pems:
        return None
    cert = x509.load_pem_x509_certificate(pems[0])
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in sans.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(URI_PREFIX):
            role, _, name = uri[len(URI_PREFIX):].partition(":")
            if role in ROLES and name:
                return Identity(role, name)
    return None


class Authorizer:
    """Decides, per call on a TLS link, whether the caller may act on the junctions."""

    def refusal(self, context, junction_ids: list[str], action: str) -> str | None:
        """None when allowed, else why not (for PERMISSION_DENIED)."""
        identity = identity_of(context)
        if identity is None:
            return f"{action}: the client certificate names no Nhip identity"
        if identity.role == "operator":
            if action == "register":
                # A registration replaces the junction's layout and resets its plan
                # history; only the controller that drives the junction knows the layout.
                return (f"register: operator {identity.name!r} may not register junctions; "
                        "each junction's own controller registers it")
            return None
        if action in ("corridor", "cancel_corridor"):
            return f"{action}: controller {identity.name!r} may not steer other junctions"
        foreign = [j for j in junction_ids if j != identity.name]
        if foreign:
            return (f"{action}: controller {identity.name!r} may act only on its own "
                    f"junction, not {foreign[0]!r}")
        return None
