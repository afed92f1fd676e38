"""Envelopes signed and verified per second, next to raw `cryptography` in the same run.

`make bench` runs this and writes bench-results/signing.json and .md. The ratio column is
the figure to watch: the machine is shared and noisy, absolute rates are not comparable
across runs, ratios measured side by side are.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from schemas import envelope as e
from schemas.codec import Registry
from signing import envelope as signatures
from signing.keys import KeyKind, PrivateKey
from signing.testpki import TestPki

OUT = Path(os.environ.get("LIENTHONG_BENCH_DIR", "bench-results"))
SECONDS = float(os.environ.get("LIENTHONG_BENCH_SECONDS", "2"))
SENDER = "000.00.00.H62"


def rate(action: Callable[[], object]) -> float:
    """Calls per second over SECONDS of wall time, after a short warm-up."""
    for _ in range(5):
        action()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < SECONDS:
        action()
        count += 1
    return count / elapsed


def _raw(key: PrivateKey, data: bytes) -> tuple[Callable[[], bytes], Callable[[], None]]:
    """Plain `cryptography` signing and verifying of the same bytes: the baseline."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        ec_public = key.public_key()
        ec_signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
        return (
            lambda: key.sign(data, ec.ECDSA(hashes.SHA256())),
            lambda: ec_public.verify(ec_signature, data, ec.ECDSA(hashes.SHA256())),
        )
    rsa_public = key.public_key()
    rsa_signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return (
        lambda: key.sign(data, padding.PKCS1v15(), hashes.SHA256()),
        lambda: rsa_public.verify(rsa_signature, data, padding.PKCS1v15(), hashes.SHA256()),
    )


def bench(kind: KeyKind, registry: Registry) -> dict[str, float | str]:
    pki = TestPki(kind=kind)
    unit = pki.unit(SENDER)
    trust = pki.trust_store()
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    body = e.EnvelopeBody(
        "bench", "document", SENDER, ("000.02.00.H62",), now, os.urandom(20 * 1024)
    )
    body_schema, body_bytes = e.encode(registry, body)
    data = body_schema + body_bytes
    key = unit.key
    raw_sign, raw_verify = _raw(key, data)

    def envelope_sign() -> bytes:
        schema, payload = e.encode(registry, body)
        return e.encode(registry, signatures.sign(schema, payload, key, unit.chain))[1]

    fingerprint = registry.fingerprint("SignedEnvelope")
    wire = envelope_sign()

    def envelope_verify() -> None:
        signatures.verify(
            e.decode_signed(registry, fingerprint, wire), trust=trust, registry=registry
        )

    results: dict[str, float | str] = {"algorithm": kind}
    results["raw_sign_per_s"] = rate(raw_sign)
    results["envelope_sign_per_s"] = rate(envelope_sign)
    results["raw_verify_per_s"] = rate(raw_verify)
    results["envelope_verify_per_s"] = rate(envelope_verify)
    results["sign_ratio"] = float(results["envelope_sign_per_s"]) / float(results["raw_sign_per_s"])
    results["verify_ratio"] = float(results["envelope_verify_per_s"]) / float(
        results["raw_verify_per_s"]
    )
    return results


def main() -> None:
    registry = Registry.load()
    rows = [bench("rsa2048", registry), bench("p256", registry)]
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "body_bytes": 20 * 1024,
        "seconds_per_measure": SECONDS,
    }
    (OUT / "signing.json").write_text(json.dumps({**meta, "results": rows}, indent=2) + "\n")
    lines = [
        "# Envelope signing and verification",
        "",
        f"{meta['when']}, {meta['machine']}, 20 KiB bodies, {SECONDS:g} s per figure.",
        "Envelope = Avro encode + sign, or Avro decode + signature + chain, validity, CRL "
        "and unit checks.",
        "",
        "| algorithm | raw sign/s | envelope sign/s | ratio "
        "| raw verify/s | envelope verify/s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['algorithm']} | {float(row['raw_sign_per_s']):.0f} | "
            f"{float(row['envelope_sign_per_s']):.0f} | {float(row['sign_ratio']):.2f} | "
            f"{float(row['raw_verify_per_s']):.0f} | {float(row['envelope_verify_per_s']):.0f} | "
            f"{float(row['verify_ratio']):.2f} |"
        )
    (OUT / "signing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
