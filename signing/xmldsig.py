"""The XML signature (XML-DSig) an edXML packet may carry in its header, checked.

Documents that reach lienthong through a gateway were signed by a unit of another exchange:
their envelope is signed by the gateway (the only key here that may speak for that unit),
so the edXML's own `Signature`, when the sending system made one, is the only end-to-end
proof of who wrote it. It is checked and its verdict recorded (`gateway_inbound.xmldsig`);
it does not decide whether the document is carried, as the remote exchange already took it.

What is checked: one enveloped signature, the profile QCVN 102:2016 systems write (the
VNPT and BKAV kits' samples): its `Reference`s (`URI=""`, the whole packet, or `#id`) with
the enveloped-signature transform and inclusive or exclusive C14N 1.0 (with or without
comments), digests SHA-1/SHA-256/SHA-384/SHA-512; `SignedInfo` in the same C14N forms; RSA
(PKCS#1 v1.5) with SHA-1/SHA-256/SHA-384/SHA-512 and ECDSA with SHA-256/SHA-384; the key
from `KeyInfo/X509Data/X509Certificate`, its chain judged by the trust store as of `at`.
Elements are matched by local name in any namespace, since vendors put `Signature` in the
edXML namespace rather than XML-DSig's. Anything else (XPath or XSLT transforms, HMAC
signatures, references to other documents, a key without a certificate) is `unsupported`,
never `valid`: the verdict says what was proven and no more.

`valid` means all of: a Reference covers what the parser reads (`URI=""`, or `#id` of the
root element itself, with the enveloped-signature transform: a signature over a nested
element proves nothing about the packet around it, the "signature wrapping" forgery); no Id
appears twice in the packet; the Signature sits where the parser reads it
(`edXML/edXMLEnvelope/edXMLHeader`) and carries no attachment (what the enveloped transform
takes out is not signed); no SHA-1 is relied on; at most `MAX_REFERENCES` References; the
certificate verifies SignedInfo, its chain is trusted, and it names (`MDDT:`) the packet's
sender: `sender` when the caller gives it, else the packet's own `From/OrganId`. A packet
naming no sender is `unsupported`; a certificate of another unit is `untrusted`
(`certificate_wrong_unit`). SHA-1 (digest or signature method) only ever lowers a verdict:
a digest or signature that does not match is `invalid` whatever its hash, one that matches
is `unsupported`, since SHA-1 collisions are practical and a match proves nothing.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import datetime
import hashlib
from collections.abc import Callable
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from kernel.errors import TrustError
from kernel.reasons import ReasonCode
from signing.certificates import Binding, TrustStore, parse_certificate

Verdict = Literal["absent", "valid", "invalid", "untrusted", "unsupported"]
VERDICTS: tuple[Verdict, ...] = ("absent", "valid", "invalid", "untrusted", "unsupported")

_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_ENC = "http://www.w3.org/2001/04/xmlenc#"
_ENVELOPED = _DSIG + "enveloped-signature"
# Canonicalization: (exclusive, with comments) by algorithm URI.
_C14N: dict[str, tuple[bool, bool]] = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    "http://www.w3.org/2001/10/xml-exc-c14n#": (True, False),
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": (True, True),
    # A spelling the VNPT kit's samples use for exclusive C14N.
    "http://www.w3.org/TR/xml-exc-c14n#": (True, False),
}
_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    _DSIG + "sha1": lambda data: hashlib.sha1(data, usedforsecurity=False).digest(),
    _ENC + "sha256": lambda data: hashlib.sha256(data).digest(),
    _MORE + "sha384": lambda data: hashlib.sha384(data).digest(),
    _ENC + "sha512": lambda data: hashlib.sha512(data).digest(),
}
_SIGNATURES: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    _DSIG + "rsa-sha1": ("rsa", hashes.SHA1()),  # noqa: S303 (what deployed systems sign with)
    _MORE + "rsa-sha256": ("rsa", hashes.SHA256()),
    _MORE + "rsa-sha384": ("rsa", hashes.SHA384()),
    _MORE + "rsa-sha512": ("rsa", hashes.SHA512()),
    _MORE + "ecdsa-sha256": ("ecdsa", hashes.SHA256()),
    _MORE + "ecdsa-sha384": ("ecdsa", hashes.SHA384()),
}
_SHA1 = {_DSIG + "sha1", _DSIG + "rsa-sha1"}
MAX_REFERENCES = 16
"""More References than this are `unsupported` (each one copies and digests the packet)."""
_IDS = ("Id", "ID", "id")
_SAFE = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_comments=False
)


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    """A verdict, what it rests on, and who signed (the certificate's subject) if known."""

    verdict: Verdict
    detail: str
    signer: str | None = None
    units: tuple[str, ...] = ()
    """The units the signing certificate names (`MDDT:`)."""


class _Unsupported(Exception):
    pass


class _Invalid(Exception):
    pass


def check(
    document: bytes, trust: TrustStore, *, at: datetime.datetime, sender: str | None = None
) -> Checked:
    """The verdict on the packet's XML signature (`absent` when it carries none).

    `sender` is the unit the packet is from; when not given, the packet's
    `edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId` is. `valid` needs the signing
    certificate to name it."""
    if b"<!DOCTYPE" in document or b"<!ENTITY" in document:
        return Checked("invalid", "the packet carries a DTD")
    start = document.find(b"<")
    try:
        root = etree.fromstring(document[max(start, 0) :], _SAFE)
    except etree.XMLSyntaxError as exc:
        return Checked("invalid", f"the packet is not well-formed XML: {exc}")
    signatures = [e for e in root.iter() if _local(e) == "Signature"]
    signature = next((e for e in signatures if _child(e, "SignedInfo") is not None), None)
    if signature is None:
        return Checked("absent", "the packet carries no XML signature")
    try:
        return _check(root, signature, trust, at, sender)
    except _Unsupported as exc:
        return Checked("unsupported", str(exc))
    except _Invalid as exc:
        return Checked("invalid", str(exc))
    except (etree.Error, ValueError, TypeError) as exc:
        # lxml's C14N refuses some packets (a relative namespace URI): the remote sender's
        # document, not a defect here, so its verdict and never the bridge stopping.
        return Checked("invalid", f"the signed XML cannot be canonicalised: {exc}"[:500])


def _check(
    root: etree._Element,
    signature: etree._Element,
    trust: TrustStore,
    at: datetime.datetime,
    sender: str | None,
) -> Checked:
    _refuse_duplicate_ids(root)
    signed_info = _required(signature, "SignedInfo")
    references = _children(signed_info, "Reference")
    if not references:
        raise _Invalid("SignedInfo has no Reference")
    if len(references) > MAX_REFERENCES:
        raise _Unsupported(f"{len(references)} References; at most {MAX_REFERENCES} are checked")
    method = _algorithm(_required(signed_info, "SignatureMethod"))
    if method not in _SIGNATURES:
        raise _Unsupported(f"signature method {method} is not supported")
    covered = False
    sha1 = method in _SHA1
    for reference in references:
        whole, digest_method = _check_reference(root, signature, reference)
        covered = covered or whole
        sha1 = sha1 or digest_method in _SHA1
    method_element = _required(signed_info, "CanonicalizationMethod")
    canonical = _canonical(
        signed_info, _algorithm(method_element), prefixes=_prefixes(method_element)
    )
    value = _base64(_required(signature, "SignatureValue"), "SignatureValue")
    chain = _certificates(signature)
    signer = next((c for c in chain if _verifies(c, method, value, canonical)), None)
    if signer is None:
        raise _Invalid("SignatureValue is not a signature of SignedInfo by the certificate given")
    chain = [signer, *(c for c in chain if c is not signer)]
    subject = signer.subject.rfc4514_string()
    units = tuple(sorted(Binding().units_of(signer)))
    # What the signature holds over, before whom it is from: a verdict about the signer
    # would say more than a signature over another part of the packet proves.
    if not covered:
        uris = ", ".join(repr(r.get("URI")) for r in references)
        return Checked(
            "unsupported",
            f"no Reference covers the whole packet (URI=\"\" or the root's Id, enveloped): "
            f"only {uris}, which is not what the packet's reader reads",
            subject, units,
        )  # fmt: skip
    _check_placement(root, signature)
    if sha1:
        return Checked(
            "unsupported", "the signature relies on SHA-1, which proves nothing", subject, units
        )
    try:
        trust.validate([c.public_bytes(Encoding.DER) for c in chain], at=at)
    except TrustError as exc:
        return Checked("untrusted", f"{exc.reason.value}: {exc.message}", subject, units)
    unit = sender if sender is not None else _sender(root)
    if not unit:
        return Checked(
            "unsupported", "the packet names no sender (From/OrganId) to bind the signer to",
            subject, units,
        )  # fmt: skip
    if unit not in units:
        return Checked(
            "untrusted",
            f"{ReasonCode.CERTIFICATE_WRONG_UNIT.value}: the certificate names "
            f"{', '.join(units) or 'no unit'}, not the sender {unit}",
            subject, units,
        )  # fmt: skip
    algorithms = f"{method.rsplit('#', 1)[-1]}"
    return Checked("valid", f"signed by {subject} for {unit} ({algorithms})", subject, units)


def _refuse_duplicate_ids(root: etree._Element) -> None:
    """An Id twice lets a Reference resolve to one element while the reader reads another."""
    seen: set[str] = set()
    for element in root.iter():
        for value in {v for v in (element.get(name) for name in _IDS) if v is not None}:
            if value in seen:
                raise _Invalid(f"the Id {value!r} appears more than once in the packet")
            seen.add(value)


def _check_placement(root: etree._Element, signature: etree._Element) -> None:
    """The enveloped transform leaves the Signature unsigned: it must be where the reader
    takes it as the signature (edXMLHeader) and hold nothing the reader reads elsewhere
    (`AttachmentEncoded` is read wherever it is)."""
    header = signature.getparent()
    envelope = header.getparent() if header is not None else None
    if (
        header is None
        or envelope is None
        or envelope.getparent() is not root
        or (_local(root), _local(envelope), _local(header))
        != ("edXML", "edXMLEnvelope", "edXMLHeader")
        or len(_children(header, "Signature")) != 1
    ):
        raise _Unsupported("the Signature is not the one in edXML/edXMLEnvelope/edXMLHeader")
    if any(_local(e) == "AttachmentEncoded" for e in signature.iter()):
        raise _Invalid("the Signature carries an attachment its signature does not cover")


def _sender(root: etree._Element) -> str | None:
    """`From/OrganId` as the edXML reader reads it (first of each name; `null` is none)."""
    found: etree._Element | None = root
    for name in ("edXMLEnvelope", "edXMLHeader", "MessageHeader", "From", "OrganId"):
        found = _child(found, name)
    text = (found.text or "").strip() if found is not None else ""
    return None if not text or text.lower() == "null" else text


def _check_reference(
    root: etree._Element, signature: etree._Element, reference: etree._Element
) -> tuple[bool, str]:
    """Checks the Reference's digest; whether it covers the whole packet, and its digest."""
    uri = reference.get("URI")
    if uri is None or (uri and not uri.startswith("#")):
        raise _Unsupported(f"a Reference to {uri!r}: only the packet itself is checked")
    document = copy.deepcopy(root)
    target: etree._Element | None = document
    steps = _children(_child(reference, "Transforms"), "Transform")
    transforms = [_algorithm(t) for t in steps]
    if _ENVELOPED in transforms:
        _remove(_same(document, root, signature))
    if uri:
        wanted = uri[1:]
        target = next(
            (e for e in document.iter() if wanted in (e.get(name) for name in _IDS)), None
        )
        if target is None:
            raise _Invalid(f"no element has the id {wanted!r} the Reference names")
    c14n = [t for t in transforms if t != _ENVELOPED]
    if any(t not in _C14N for t in c14n):
        raise _Unsupported(f"transforms {', '.join(c14n)} are not all supported")
    method = c14n[-1] if c14n else next(iter(_C14N))
    last = next((t for t in reversed(steps) if _algorithm(t) == method), None)
    assert target is not None
    data = _canonical(target, method, whole=not uri, prefixes=_prefixes(last))
    digest_method = _algorithm(_required(reference, "DigestMethod"))
    digest = _DIGESTS.get(digest_method)
    if digest is None:
        raise _Unsupported(f"digest method {digest_method} is not supported")
    expected = _base64(_required(reference, "DigestValue"), "DigestValue")
    if digest(data) != expected:
        raise _Invalid(f"the digest of Reference {uri or '(the packet)'} does not match")
    return target is document and _ENVELOPED in transforms, digest_method


def _canonical(
    element: etree._Element, method: str, *, whole: bool = False, prefixes: list[str] | None = None
) -> bytes:
    found = _C14N.get(method)
    if found is None:
        raise _Unsupported(f"canonicalization {method} is not supported")
    exclusive, comments = found
    target: etree._Element | etree._ElementTree = element.getroottree() if whole else element
    data: bytes = etree.tostring(
        target, method="c14n", exclusive=exclusive, with_comments=comments,
        inclusive_ns_prefixes=prefixes if exclusive and prefixes else None,
    )  # fmt: skip
    return data


def _prefixes(element: etree._Element | None) -> list[str] | None:
    """Exclusive C14N's InclusiveNamespaces PrefixList, if the algorithm element has one."""
    listed = _child(element, "InclusiveNamespaces")
    return (listed.get("PrefixList") or "").split() if listed is not None else None


def _verifies(certificate: x509.Certificate, method: str, value: bytes, data: bytes) -> bool:
    kind, algorithm = _SIGNATURES[method]
    key = certificate.public_key()
    try:
        if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PKCS1v15(), algorithm)
            return True
        if kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(value) // 2
            der = utils.encode_dss_signature(
                int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big")
            )
            key.verify(der, data, ec.ECDSA(algorithm))
            return True
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return False


def _certificates(signature: etree._Element) -> list[x509.Certificate]:
    key_info = _child(signature, "KeyInfo")
    found = [
        e for data in _children(key_info, "X509Data") for e in _children(data, "X509Certificate")
    ]
    if not found:
        raise _Unsupported("KeyInfo carries no X509Certificate to check the signature with")
    chain = []
    for element in found:
        der = _base64(element, "X509Certificate")
        try:
            chain.append(parse_certificate(der, source="an X509Certificate"))
        except TrustError as exc:
            raise _Invalid(exc.message) from None
    return chain


def _base64(element: etree._Element, name: str) -> bytes:
    text = "".join((element.text or "").split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid(f"{name} is not base64") from None


def _same(copied: etree._Element, root: etree._Element, element: etree._Element) -> etree._Element:
    """The element of a deep copy of `root` that is `element` in `root` (by position)."""
    steps: list[int] = []
    current = element
    while current is not root:
        parent = current.getparent()
        assert parent is not None  # `element` lies under `root`
        steps.append(parent.index(current))
        current = parent
    found = copied
    for index in reversed(steps):
        found = found[index]
    return found


def _remove(element: etree._Element) -> None:
    """Take the element out, keeping the text that followed it (its tail) in place."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _algorithm(element: etree._Element) -> str:
    return (element.get("Algorithm") or "").strip()


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    return next(iter(_children(element, name)), None)


def _children(element: etree._Element | None, name: str) -> list[etree._Element]:
    if element is None:
        return []
    return [e for e in element if _local(e) == name]


def _required(element: etree._Element, name: str) -> etree._Element:
    found = _child(element, name)
    if found is None:
        raise _Invalid(f"{_local(element)} has no {name}")
    return found
