"""Sample documents for the demo and the tests: a valid PDF built by hand, no PDF library needed."""

from __future__ import annotations

import random


def minimal_pdf(text: str = "Van ban lien thong", *, scan_side: int = 0) -> bytes:
    """`scan_side` > 0 adds a grey scanned page image of side x side pixels (random, so it
    does not compress, like a real scan): 1024 gives a PDF of about 1 MiB."""
    draw = " q 595 0 0 842 0 0 cm /Im1 Do Q" if scan_side else ""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET{draw}".encode("latin-1")
    image = b"/XObject << /Im1 6 0 R >>" if scan_side else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> " + image + b" >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if scan_side:
        pixels = random.Random(scan_side).randbytes(scan_side**2)  # noqa: S311 (pixels)
        objects.append(
            f"<< /Type /XObject /Subtype /Image /Width {scan_side} /Height {scan_side} /ColorSpace"
            f" /DeviceGray /BitsPerComponent 8 /Length {len(pixels)} >>\nstream\n".encode()
            + pixels
            + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
