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
from signing.certificates import Binding, TrustStore

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


def check(document: bytes, trust: TrustStore, *, at: datetime.datetime) -> Checked:
    """The verdict on the packet's XML signature (`absent` when it carries none)."""
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
        return _check(root, signature, trust, at)
    except _Unsupported as exc:
        return Checked("unsupported", str(exc))
    except _Invalid as exc:
        return Checked("invalid", str(exc))
    except (etree.Error, ValueError, TypeError) as exc:
        # lxml's C14N refuses some packets (a relative namespace URI): the remote sender's
        # document, not a defect here, so its verdict and never the bridge stopping.
        return Checked("invalid", f"the signed XML cannot be canonicalised: {exc}"[:500])


def _check(
    root: etree._Element, signature: etree._Element, trust: TrustStore, at: datetime.datetime
) -> Checked:
    signed_info = _required(signature, "SignedInfo")
    references = _children(signed_info, "Reference")
    if not references:
        raise _Invalid("SignedInfo has no Reference")
    for reference in references:
        _check_reference(root, signature, reference)
    method = _algorithm(_required(signed_info, "SignatureMethod"))
    if method not in _SIGNATURES:
        raise _Unsupported(f"signature method {method} is not supported")
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
    try:
        trust.validate([c.public_bytes(Encoding.DER) for c in chain], at=at)
    except TrustError as exc:
        return Checked("untrusted", f"{exc.reason.value}: {exc.message}", subject, units)
    algorithms = f"{method.rsplit('#', 1)[-1]}"
    return Checked("valid", f"signed by {subject} ({algorithms})", subject, units)


def _check_reference(
    root: etree._Element, signature: etree._Element, reference: etree._Element
) -> None:
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
            (e for e in document.iter() if wanted in (e.get("Id"), e.get("ID"), e.get("id"))),
            None,
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
        try:
            chain.append(x509.load_der_x509_certificate(_base64(element, "X509Certificate")))
        except ValueError as exc:
            raise _Invalid(f"an X509Certificate is not a certificate: {exc}") from None
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
