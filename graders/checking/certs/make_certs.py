"""Makes the certificates of stage 10, once, for the students and for the graders (a dev script).

Run it from the repository root:  python graders/checking/certs/make_certs.py
It needs the `dev` extra (trustme on cryptography). Nothing at grading time imports it: the
files it writes are committed, and grading and student code read them with the standard
library's `ssl` alone. Running it again makes new keys, so commit what it writes together.

Why static files: the standard library cannot make an X.509 certificate, students need the
files anyway, and a grading machine (CI, Gradescope) need not carry cryptography.

What it writes (every certificate ECDSA P-256 / SHA-256, valid 2000-01-01 to 3000-01-01
unless told otherwise; trustme's chains pass with VERIFY_X509_STRICT, as 3.13 sets it):

  exercises/10_tls/certs/     what the student gets (the contract of CURRICULUM.md)
    ca.pem                    the test root, "tcplab test root"
    server-chain.pem          a leaf for tcplab.test, 127.0.0.1 and ::1, then its intermediate
    server.key                the leaf's key
  graders/checking/certs/     what the graders use: the three above again (a student's own copy
                              may have been changed), and the bad ones, one failure each:
    dns-only-chain.pem/.key   a good leaf for tcplab.test alone (no IP): server_hostname matters
    other-ca.pem              another root, that the student's client must not trust
    other-chain.pem/.key      a leaf for every name, issued under other-ca.pem (verify code 20)
    self-signed.pem/.key      a leaf for every name, signed by itself (code 18)
    expired-chain.pem/.key    a leaf under the test root that expired in 2001 (code 10)
    wrong-host-chain.pem/.key a leaf under the test root for other.test only (code 62)
    leaf-only.pem             the good leaf without its intermediate (code 20: the chain breaks)
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[3]
STUDENT = ROOT / "exercises" / "10_tls" / "certs"
GRADER = ROOT / "graders" / "checking" / "certs"
NAMES = ("tcplab.test", "127.0.0.1", "::1")
START = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
END = datetime.datetime(3000, 1, 1, tzinfo=datetime.timezone.utc)
EXPIRED = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)


def write(folder: Path, name: str, *pems: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"".join(pems))


def chain(cert: trustme.LeafCert) -> list[bytes]:
    return [blob.bytes() for blob in cert.cert_chain_pems]


def self_signed() -> tuple[bytes, bytes]:
    """A leaf that is its own issuer: trustme only makes CAs that way, so cryptography directly."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tcplab.test (self-signed)")])
    sans = [x509.DNSName("tcplab.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1"))]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(START).not_valid_after(END)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def main() -> None:
    root = trustme.CA(organization_name="tcplab test root")
    intermediate = root.create_child_ca()
    good = intermediate.issue_cert(*NAMES, not_before=START, not_after=END)
    for folder in (STUDENT, GRADER):
        write(folder, "ca.pem", root.cert_pem.bytes())
        write(folder, "server-chain.pem", *chain(good))
        write(folder, "server.key", good.private_key_pem.bytes())

    dns_only = intermediate.issue_cert("tcplab.test", not_before=START, not_after=END)
    write(GRADER, "dns-only-chain.pem", *chain(dns_only))
    write(GRADER, "dns-only.key", dns_only.private_key_pem.bytes())

    other_root = trustme.CA(organization_name="tcplab other root")
    other = other_root.create_child_ca().issue_cert(*NAMES, not_before=START, not_after=END)
    write(GRADER, "other-ca.pem", other_root.cert_pem.bytes())
    write(GRADER, "other-chain.pem", *chain(other))
    write(GRADER, "other.key", other.private_key_pem.bytes())

    cert_pem, key_pem = self_signed()
    write(GRADER, "self-signed.pem", cert_pem)
    write(GRADER, "self-signed.key", key_pem)

    expired = intermediate.issue_cert(*NAMES, not_before=START, not_after=EXPIRED)
    write(GRADER, "expired-chain.pem", *chain(expired))
    write(GRADER, "expired.key", expired.private_key_pem.bytes())

    wrong_host = intermediate.issue_cert("other.test", not_before=START, not_after=END)
    write(GRADER, "wrong-host-chain.pem", *chain(wrong_host))
    write(GRADER, "wrong-host.key", wrong_host.private_key_pem.bytes())

    write(GRADER, "leaf-only.pem", chain(good)[0])
    print(f"wrote {STUDENT.relative_to(ROOT)}/ and {GRADER.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
