"""The console's printed documents (the quarterly registers of Article 10.3, the usage report
of Article 12) as PDF, with fpdf2 and a TrueType serif that has every Vietnamese glyph.

Decree 30/2020's forms are set in Times New Roman, which Debian does not ship; DejaVu Serif
(fonts-dejavu-core) is the free face closest to it with full Vietnamese coverage. The fonts
are embedded (subset), so the PDF reads and prints the same everywhere, and its text layer
is extractable, which the tests use.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import TableCellFillMode
from fpdf.fonts import FontFace

from kernel.errors import ConfigurationError

FONTS = Path("/usr/share/fonts/truetype/dejavu")
REGULAR, BOLD, ITALIC = "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"
FAMILY = "serif"


def document(title: str, *, landscape: bool = True, fonts: Path = FONTS) -> FPDF:
    """An A4 document (landscape for a register's many columns) with the serif loaded and
    a page numbered in its footer."""
    missing = [name for name in (REGULAR, BOLD, ITALIC) if not (fonts / name).is_file()]
    if missing:
        raise ConfigurationError(
            f"the report fonts {missing} are not in {fonts}",
            hint="apt-get install fonts-dejavu-core",
        )
    pdf = _Numbered(orientation="L" if landscape else "P", unit="mm", format="A4")
    pdf.add_font(FAMILY, "", str(fonts / REGULAR))
    pdf.add_font(FAMILY, "B", str(fonts / BOLD))
    pdf.add_font(FAMILY, "I", str(fonts / ITALIC))
    pdf.set_title(title)
    pdf.set_creator("lienthong")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font(FAMILY, size=11)
    return pdf


class _Numbered(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "I", 8)
        self.cell(0, 8, f"{self.page_no()}/{{nb}}", align="C")


def heading(pdf: FPDF, lines: Sequence[str], *, size: int = 14) -> None:
    """Centred bold lines, as a register's cover or a report's title."""
    pdf.set_font(FAMILY, "B", size)
    for line in lines:
        pdf.cell(0, size * 0.55, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font(FAMILY, size=11)


MAX_CELL_LINES = 24
"""Lines one cell may take: a row must fit on one page (fpdf2 refuses one that does not),
whatever length of subject a sender wrote."""
WIDEST_GLYPH_MM = 3.0
"""About the widest glyph of the table's 8.5 pt serif (W, Ữ), so a cut is safe for any text."""
CELL_PADDING_MM = 2.0


def fitted(value: str, width: float) -> str:
    """`value` as a cell `width` mm wide shows it: control characters and line breaks made
    spaces, and cut (with an ellipsis) to what MAX_CELL_LINES lines hold. The CSV export
    and the pages keep the whole text; the printed register shows its start."""
    plain = " ".join(
        "".join(" " if unicodedata.category(c)[0] == "C" else c for c in value).split()
    )
    per_line = max(1, int((width - CELL_PADDING_MM) / WIDEST_GLYPH_MM))
    limit = per_line * MAX_CELL_LINES
    return plain if len(plain) <= limit else plain[: limit - 1] + "…"


def table(
    pdf: FPDF,
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    widths: Sequence[int],
    size: float = 8.5,
) -> None:
    """A ruled table whose heading row repeats on every page (a printed register's)."""
    pdf.set_font(FAMILY, size=size)
    with pdf.table(
        col_widths=tuple(widths),
        headings_style=FontFace(family=FAMILY, emphasis="BOLD", fill_color=(235, 238, 242)),
        cell_fill_mode=TableCellFillMode.NONE,
        line_height=size * 0.55,
        repeat_headings=1,
        text_align="LEFT",
    ) as drawn:
        header = drawn.row()
        for title in headings:
            header.cell(title)
        for values in rows:
            row = drawn.row()
            for value, width in zip(values, widths, strict=True):
                row.cell(fitted(value, width))


def as_bytes(pdf: FPDF) -> bytes:
    return bytes(pdf.output())
