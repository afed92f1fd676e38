"""The command line as operators and scripts use it: real processes, real files, JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lienthong.commands.pki import SAMPLE_DIRECTORY
from lienthong.devstack import clamd as devstack_clamd
from lienthong.samples import minimal_pdf
from tests.paths import CONFORMANCE_FILES, FIXTURES, needs_conformance
from tests.unit.test_edxml import BILLION_LAUGHS, XXE

SENDER, RECIPIENT = "000.00.00.H62", "000.02.00.H62"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]], str]:
    result = subprocess.run(
        [sys.executable, "-m", "lienthong", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.returncode, lines, result.stderr


@pytest.fixture(scope="module")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    code, lines, stderr = run("pki", "init", str(out), "--units", SENDER, RECIPIENT)
    assert code == 0, stderr
    assert lines[0]["units"] == [SENDER, RECIPIENT]
    return out


def _pack(
    pki_dir: Path, out: Path, *extra: str, unit: str = SENDER
) -> tuple[int, list[dict[str, Any]], str]:
    folder = pki_dir / "units" / unit
    return run(
        "envelope", "pack",
        "--key", str(folder / "key.pem"), "--cert", str(folder / "cert.pem"),
        "--chain", str(folder / "chain.pem"), "--to", RECIPIENT,
        "--edxml", str(FIXTURES / "edxml" / "document.edxml"), "-o", str(out), *extra,
    )  # fmt: skip


def test_pki_init_writes_the_trust_folder_and_unit_files(demo_pki: Path) -> None:
    assert {p.name for p in (demo_pki / "trust").iterdir()} == {
        "root-ca.pem", "issuing-ca.pem", "issuing-ca.crl", "root-ca.crl",
    }  # fmt: skip
    for name in ("key.pem", "cert.pem", "chain.pem"):
        assert (demo_pki / "units" / SENDER / name).is_file()
        assert (demo_pki / "units" / SENDER / "head" / name).is_file()
    assert (demo_pki / "units" / SENDER / "key.pem").stat().st_mode & 0o077 == 0


def test_pack_then_verify(demo_pki: Path, tmp_path: Path) -> None:
    envelope = tmp_path / "out.avro"
    note = tmp_path / "ghi-chu.txt"
    note.write_text("Kính gửi UBND xã Châu Thành")
    code, packed, stderr = _pack(demo_pki, envelope, "--attach", str(note))
    assert code == 0, stderr
    code, verdicts, stderr = run(
        "envelope", "verify", "--trust", str(demo_pki / "trust"), str(envelope)
    )
    assert code == 0, stderr
    verdict = verdicts[0]
    assert verdict["ok"] is True
    assert verdict["reason_code"] is None
    assert verdict["message_id"] == packed[0]["message_id"]
    assert (verdict["sender"], verdict["recipients"]) == (SENDER, [RECIPIENT])
    assert verdict["document_id"] == "000.00.00.H62,2026/11/20,125/UBND-VP"
    assert verdict["attachments"][0]["name"] == "ghi-chu.txt"


def test_verify_refusals_carry_reason_codes(demo_pki: Path, tmp_path: Path) -> None:
    envelope = tmp_path / "out.avro"
    assert _pack(demo_pki, envelope)[0] == 0
    data = envelope.read_bytes()
    at = data.index("triển khai".encode())
    tampered = tmp_path / "tampered.avro"
    tampered.write_bytes(data[:at] + b"X" + data[at + 1 :])
    truncated = tmp_path / "truncated.avro"
    truncated.write_bytes(data[: len(data) // 2])
    junk = tmp_path / "junk.avro"
    junk.write_bytes(b"not an envelope at all")
    code, verdicts, _ = run(
        "envelope", "verify", "--trust", str(demo_pki / "trust"),
        str(envelope), str(tampered), str(truncated), str(junk), str(tmp_path / "missing.avro"),
    )  # fmt: skip
    assert code == 1
    assert [v["reason_code"] for v in verdicts] == [
        None, "signature_invalid", "envelope_truncated", "envelope_malformed", "file_unreadable",
    ]  # fmt: skip


def test_verify_against_another_trust_store_is_untrusted(demo_pki: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-pki"
    assert run("pki", "init", str(other), "--units", SENDER, "--kind", "p256")[0] == 0
    envelope = tmp_path / "out.avro"
    assert _pack(other, envelope)[0] == 0
    code, verdicts, _ = run("envelope", "verify", "--trust", str(demo_pki / "trust"), str(envelope))
    assert (code, verdicts[0]["reason_code"]) == (1, "certificate_untrusted")


def test_pack_refuses_to_sign_for_another_unit(demo_pki: Path, tmp_path: Path) -> None:
    code, _, stderr = _pack(demo_pki, tmp_path / "x.avro", "--from", RECIPIENT)
    assert code == 2
    assert "[certificate_wrong_unit]" in stderr
    assert not (tmp_path / "x.avro").exists()


def test_pack_refuses_hostile_edxml(demo_pki: Path, tmp_path: Path) -> None:
    hostile = tmp_path / "xxe.edxml"
    hostile.write_bytes(XXE)
    folder = demo_pki / "units" / SENDER
    code, _, stderr = run(
        "envelope", "pack", "--key", str(folder / "key.pem"), "--cert", str(folder / "cert.pem"),
        "--to", RECIPIENT, "--edxml", str(hostile), "-o", str(tmp_path / "x.avro"),
    )  # fmt: skip
    assert code == 2
    assert "[edxml_external_entity]" in stderr


def test_edxml_check_reports_each_file(tmp_path: Path) -> None:
    laughs = tmp_path / "laughs.edxml"
    laughs.write_bytes(BILLION_LAUGHS)
    files = [FIXTURES / "edxml" / "document.edxml", FIXTURES / "edxml" / "status.edxml", laughs]
    code, lines, _ = run("edxml", "check", *map(str, files))
    assert code == 1
    assert [(line["ok"], line["kind"], line["reason_code"]) for line in lines] == [
        (True, "document", None),
        (True, "status", None),
        (False, None, "edxml_entity_expansion"),
    ]
    assert lines[0]["attachments"] == [
        {
            "name": "ghi-chu.txt",
            "content_type": "text/plain",
            "size": len("Xin chào liên thông".encode()),
            "sha256": "b85d89049cd9439bcaf04d9fe2f1afd9a4cf339810a23f759a858151a22e0095",
            "decoded": True,
        }
    ]


@needs_conformance
def test_edxml_check_passes_every_conformance_packet() -> None:
    code, lines, stderr = run("edxml", "check", *map(str, CONFORMANCE_FILES))
    assert code == 0, stderr
    assert len(lines) == len(CONFORMANCE_FILES) == 18
    assert all(line["ok"] for line in lines)


def test_directory_resolve_from_a_file() -> None:
    code, lines, _ = run(
        "directory",
        "resolve",
        "000.00.31.H07",
        "--at",
        "2026-01-01",
        "--file",
        str(SAMPLE_DIRECTORY),
    )
    assert code == 0
    assert (lines[0]["organ_id"], lines[0]["hops"]) == ("000.02.00.H62", ["000.00.31.H07"])
    code, lines, _ = run("directory", "resolve", "000.00.31", "--file", str(SAMPLE_DIRECTORY))
    assert (code, lines[0]["reason_code"]) == (1, "organid_invalid")


def test_policy_check_decides_without_sending(tmp_path: Path) -> None:
    code, lines, _ = run(
        "policy", "check", "--edxml", str(FIXTURES / "edxml" / "document.edxml"), "--no-scan"
    )
    assert (code, lines[0]["action"], lines[0]["sender"]) == (0, "pass", "000.00.00.H62")

    secret = tmp_path / "secret.edxml"
    secret.write_bytes(
        (FIXTURES / "edxml" / "document.edxml")
        .read_bytes()
        .replace(
            "V/v triển khai liên thông văn bản điện tử 4 cấp".encode(), "Chỉ thị TUYỆT MẬT".encode()
        )
    )
    stamp = tmp_path / "trang-bia.txt"
    stamp.write_text("ỦY BAN NHÂN DÂN\nMẬT\n", encoding="utf-8")
    scan = tmp_path / "scan.png"
    scan.write_bytes(b"\x89PNG")
    code, lines, _ = run(
        "policy", "check", "--edxml", str(secret), "--attach", str(stamp), str(scan),
        "--sender", SENDER, "--no-scan",
    )  # fmt: skip
    assert code == 1
    decision = lines[0]
    assert decision["action"] == "reject"
    assert decision["rule_ids"] == ["A4.1-secret-grade", "A4.1-secret-stamp"]
    assert decision["articles"] == ["Đ4.1"]
    assert decision["reason_codes"] == ["policy_secret_mark"]
    assert decision["attachments_not_read"] == ["scan.png"]
    assert decision["paper_copy_required"] is False
    assert decision["legacy_encoding"] == []
    scans = {s["attachment"]: s["verdict"] for s in decision["malware_scans"]}
    assert scans["trang-bia.txt"] == scans["scan.png"] == "not_scanned"
    assert set(scans.values()) == {"not_scanned"}


SIGNED_DECISIONS = """version: 1
rules: []
pdf_signatures:
  - {id: decisions-signed, article: "Đ9.1", document_types: [quyết định],
     require: [organisation], action: reject}
"""


@pytest.mark.usefixtures("services")
def test_policy_check_scans_with_clamd_and_checks_pdf_signatures(
    demo_pki: Path, tmp_path: Path
) -> None:
    """The clerk's trial before sending: real clamd, the trust store, a per-type rule."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(SIGNED_DECISIONS, encoding="utf-8")
    decision = tmp_path / "qd.edxml"
    decision.write_bytes(
        (FIXTURES / "edxml" / "document.edxml").read_bytes().replace(
            "<TypeName>Công văn</TypeName>".encode(),
            "<TypeName>Quyết định</TypeName>".encode(),
        )
    )  # fmt: skip
    unsigned = tmp_path / "qd.pdf"
    unsigned.write_bytes(minimal_pdf())
    signed = tmp_path / "qd-signed.pdf"
    folder = demo_pki / "units" / SENDER
    run(
        "pdf", "sign", str(unsigned), "--key", str(folder / "key.pem"),
        "--cert", str(folder / "cert.pem"), "--chain", str(folder / "chain.pem"), "-o", str(signed),
    )  # fmt: skip
    eicar = tmp_path / "eicar.txt"
    eicar.write_bytes(devstack_clamd.eicar())
    trial = ("policy", "check", "--edxml", str(decision), "--policy", str(policy),
             "--trust", str(demo_pki / "trust"), "--attach")  # fmt: skip

    code, lines, err = run(*trial, str(signed))
    assert code == 0, err
    assert lines[0]["action"] == "pass"
    assert {s["verdict"] for s in lines[0]["malware_scans"]} == {"clean"}

    code, lines, _ = run(*trial, str(unsigned))
    assert (code, lines[0]["reason_codes"], lines[0]["rule_ids"]) == (
        1, ["pdf_unsigned"], ["decisions-signed"]
    )  # fmt: skip

    code, lines, _ = run(*trial, str(signed), str(eicar))
    assert (code, lines[0]["action"], lines[0]["reason_codes"]) == (1, "reject", ["malware_found"])
    scans = {s["attachment"]: s["verdict"] for s in lines[0]["malware_scans"]}
    assert (scans["qd-signed.pdf"], scans["eicar.txt"]) == ("clean", "infected")


def test_pdf_sign_then_verify(demo_pki: Path, tmp_path: Path) -> None:
    original = tmp_path / "qd.pdf"
    original.write_bytes(minimal_pdf())
    signed = tmp_path / "qd-signed.pdf"
    folder = demo_pki / "units" / SENDER
    code, _lines, err = run(
        "pdf", "sign", str(original), "--key", str(folder / "key.pem"),
        "--cert", str(folder / "cert.pem"), "--chain", str(folder / "chain.pem"), "-o", str(signed),
    )  # fmt: skip
    assert code == 0, err
    code, verdicts, _ = run(
        "pdf", "verify", "--trust", str(demo_pki / "trust"), "--sender", SENDER,
        str(signed), str(original),
    )  # fmt: skip
    assert code == 1
    assert verdicts[0]["ok"] is True
    assert verdicts[0]["units"] == [SENDER]
    assert verdicts[1]["reason_code"] == "pdf_unsigned"
    code, verdicts, _ = run(
        "pdf", "verify", "--trust", str(demo_pki / "trust"), "--sender", RECIPIENT, str(signed)
    )
    assert (code, verdicts[0]["reason_code"]) == (1, "certificate_wrong_unit")


@pytest.mark.usefixtures("services")
def test_health_needs_the_scanner_when_one_is_configured(unused_tcp_port: int) -> None:
    code, lines, _ = run("health")
    assert (code, lines[0]["healthy"]) == (0, True)
    assert lines[0]["clamd"].startswith("ClamAV ")
    code, lines, _ = run("health", env={"LIENTHONG_CLAMD": f"tcp://127.0.0.1:{unused_tcp_port}"})
    assert (code, lines[0]["healthy"]) == (1, False)
    assert lines[0]["clamd_error"].startswith("[scanner_unavailable]")
    code, lines, _ = run("health", env={"LIENTHONG_CLAMD": "none"})
    assert (code, lines[0]["clamd"]) == (0, "none (attachments are not scanned)")


def test_policy_check_with_the_directory_applies_level_rules(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nrules:\n"
        "  - {id: to-communes, article: 'Đ4.3', reason: policy_sensitive, action: hold,"
        " looks_at: [subject], terms: [liên thông], recipient_levels: [commune]}\n",
        encoding="utf-8",
    )
    document = str(FIXTURES / "edxml" / "document.edxml")
    trial = ("policy", "check", "--edxml", document, "--policy", str(policy), "--no-scan")
    code, lines, err = run(*trial, "--directory", str(SAMPLE_DIRECTORY))
    assert (code, lines[0]["rule_ids"]) == (1, ["to-communes"]), err
    assert lines[0]["parties"] == {"sender_level": "province", "recipient_levels": ["commune"]}
    code, lines, _ = run(*trial)
    assert (code, lines[0]["action"]) == (0, "pass")
    assert lines[0]["rules_skipped_without_directory"] == ["to-communes"]
