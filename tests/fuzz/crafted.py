"""Hand-made hostile inputs: certificates assembled from DER by hand (what the x509 builder
refuses to make) and small PDFs written byte by byte. The fuzz harnesses start from them and
the regression tests (tests/unit/test_fuzz_regressions_*.py) pin each finding with one."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from signing.testpki import Issued

SHA256_RSA = "1.2.840.113549.1.1.11"
UNIT = "000.00.00.H62"
"""The unit a crafted certificate names (MDDT:), the sender of the edXML fixtures."""


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def oid(dotted: str) -> bytes:
    numbers = [int(n) for n in dotted.split(".")]
    out = bytearray([40 * numbers[0] + numbers[1]])
    for number in numbers[2:]:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def octets(content: bytes) -> bytes:
    return tlv(0x04, content)


def bits(content: bytes, unused: int = 0) -> bytes:
    return tlv(0x03, bytes([unused]) + content)


def utf8(text: bytes) -> bytes:
    return tlv(0x0C, text)


def name(*attributes: tuple[str, bytes]) -> bytes:
    """A Name of one attribute per RDN; each value is an already encoded element."""
    return seq(*(tlv(0x31, seq(oid(kind), value)) for kind, value in attributes))


def extension(kind: str, value: bytes, *, critical: bool = False) -> bytes:
    return seq(oid(kind), *([tlv(0x01, b"\xff")] if critical else []), octets(value))


KEY_USAGE = "2.5.29.15"
BASIC_CONSTRAINTS = "2.5.29.19"
SIGNER_USAGE = extension(KEY_USAGE, bits(b"\xc0", 6), critical=True)
"""digitalSignature and nonRepudiation, as testpki's unit certificates carry."""


def _time(moment: datetime.datetime) -> bytes:
    return tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())


def certificate(
    issuer: Issued,
    *,
    version: int = 2,
    subject: bytes | None = None,
    issuer_name: bytes | None = None,
    key_algorithm: bytes | None = None,
    extensions: tuple[bytes, ...] = (SIGNER_USAGE,),
    key: rsa.RSAPrivateKey | None = None,
) -> bytes:
    """A leaf certificate in DER, signed by `issuer`'s key over whatever TBS the arguments
    make: the signature is good, so only the parser stands between it and the checks."""
    now = datetime.datetime.now(datetime.UTC)
    public = (key or rsa.generate_private_key(65537, 2048)).public_key()
    spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if key_algorithm is not None:
        # The SPKI's algorithm identifier swapped, the key bits kept.
        inner = spki[4:] if spki[1] == 0x82 else spki[2:]
        algorithm_length = inner[1] + 2
        spki = seq(key_algorithm, inner[algorithm_length:])
    own_name = subject or name(
        ("2.5.4.3", utf8(b"crafted")),
        ("0.9.2342.19200300.100.1.1", utf8(f"MDDT:{UNIT}".encode())),
    )
    tbs = seq(
        tlv(0xA0, integer(version)),
        integer(x509.random_serial_number()),
        seq(oid(SHA256_RSA), tlv(0x05, b"")),
        issuer_name or issuer.certificate.subject.public_bytes(),
        seq(_time(now - datetime.timedelta(days=1)), _time(now + datetime.timedelta(days=30))),
        own_name,
        spki,
        *([tlv(0xA3, seq(*extensions))] if extensions else []),
    )
    signer = issuer.key
    assert isinstance(signer, rsa.RSAPrivateKey)
    signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return seq(tbs, seq(oid(SHA256_RSA), tlv(0x05, b"")), bits(signature))


def pdf(
    *objects: bytes,
    trailer: bytes = b"/Root 1 0 R",
    startxref: bytes | None = None,
    xref: bool = True,
) -> bytes:
    """A PDF of `objects` (numbered from 1) with a classic xref table, unless `xref` is
    False; `startxref` replaces the table's true offset."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    table = len(out)
    if xref:
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d " % (len(objects) + 1) + trailer + b" >>\n"
    out += b"startxref\n" + (startxref or b"%d" % table) + b"\n%%EOF\n"
    return bytes(out)


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
