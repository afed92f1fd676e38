"""`lienthong pki init` crashed on a unit whose head's common name passed 64 characters
(cryptography refuses a longer CN): the name is shortened, the unit still bound by UID."""

from __future__ import annotations

from pathlib import Path

from cryptography.x509.oid import NameOID

from signing.certificates import Binding, load_certificates
from signing.testpki import MAX_COMMON_NAME, write_pki

LONG_NAME = "Ủy ban nhân dân xã Châu Thành, huyện Châu Thành, tỉnh Bến Tre (trước 2025)"


def test_a_long_unit_name_gets_certificates(tmp_path: Path) -> None:
    assert len(f"Thủ trưởng {LONG_NAME}".encode()) > MAX_COMMON_NAME
    write_pki(tmp_path, [("000.02.00.H62", LONG_NAME)], router_id="000.00.00.H99")
    for folder in (tmp_path / "units/000.02.00.H62", tmp_path / "units/000.02.00.H62/head"):
        certificate = load_certificates((folder / "cert.pem").read_bytes(), source=str(folder))[0]
        common = str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        assert len(common.encode()) <= MAX_COMMON_NAME
        assert Binding().units_of(certificate) == {"000.02.00.H62"}
