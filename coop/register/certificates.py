"""Share certificates: what one says, and the same as a PDF (fpdf2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from coop.formatting import with_the
from coop.register.models import SHARE_PENCE, Kind, Member, ShareTransaction

#: TrueType fonts tried in order for PDFs (names in any Latin, Greek or Cyrillic script);
#: REGISTER_PDF_FONT comes first. Without any, the PDF uses Helvetica (Latin-1 only).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


@dataclass(frozen=True)
class Society:
    name: str
    registered_number: str
    address: str


def society(config) -> Society:
    return Society(name=config["SOCIETY_NAME"],
                   registered_number=config["SOCIETY_REGISTERED_NUMBER"],
                   address=config["SOCIETY_ADDRESS"])


def wording(line: ShareTransaction, member: Member, soc: Society) -> dict[str, str]:
    """The certificate's text, shared by the page and the PDF."""
    shares = line.shares
    how = ("acquired by transfer" if line.kind == Kind.TRANSFER_IN else "allotted")
    return {
        "title": "Share certificate",
        "society": soc.name,
        "registered": (f"Registered under the Co-operative and Community Benefit Societies Act "
                       f"2014, number {soc.registered_number}"),
        "address": soc.address,
        "certificate": f"Certificate number {line.certificate_number}",
        "statement": (f"This is to certify that {member.name}, membership number "
                      f"{member.number_text}, is the registered holder of {shares:,} fully paid "
                      f"share{'s' if shares != 1 else ''} of £{SHARE_PENCE // 100} each "
                      f"(£{shares * SHARE_PENCE // 100:,}) in {with_the(soc.name)}, {how} on "
                      f"{line.effective_on.day} {line.effective_on:%B %Y}, subject to the "
                      "rules of the society."),
        "note": "Shares are withdrawable and not transferable except as the rules allow. "
                "The register of members is the proof of holding.",
        # a ceased member holds nothing: the certificate stays for the record, marked so
        "cancelled": (f"Cancelled: this membership ceased on {member.ceased_on.day} "
                      f"{member.ceased_on:%B %Y}, and these shares are no longer held. "
                      "This copy is for the record only." if member.ceased_on else
                      _superseded(line, member)),
    }


def _superseded(line: ShareTransaction, member: Member) -> str:
    """What a certificate says once shares have left the holding after it (QA: it went on
    certifying 240 shares after 200 were withdrawn), or "" while nothing has."""
    session = sa.orm.object_session(line)
    when, line_id = ShareTransaction.effective_on, ShareTransaction.id
    # by the register's dates, not the order lines were typed in: a withdrawal may be entered
    # back-dated (review)
    later = session.scalar(
        sa.select(ShareTransaction)
        .where(ShareTransaction.member_id == member.id, ShareTransaction.shares < 0,
               sa.or_(when > line.effective_on,
                      sa.and_(when == line.effective_on, line_id > line.id)))
        .order_by(when, line_id).limit(1)) if session is not None else None
    if later is None:
        return ""
    gone = -later.shares
    how = "withdrawn" if later.kind == Kind.WITHDRAWAL else "transferred to another member"
    return (f"Superseded: on {later.effective_on.day} {later.effective_on:%B %Y}, {gone:,} "
            f"share{'s were' if gone != 1 else ' was'} {how}, and the member now holds "
            f"{member.shares_held:,}. The register of members is the proof of holding; this "
            "copy is for the record only.")


def _font_path() -> str | None:
    configured = current_app.config.get("REGISTER_PDF_FONT") or ""
    for candidate in (configured, *FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def render_pdf(line: ShareTransaction, member: Member, soc: Society) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    text = wording(line, member, soc)
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_title(f"{text['title']} {line.certificate_number}")
    pdf.set_author(soc.name)
    pdf.set_creator(soc.name)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    font = _font_path()
    if font:
        pdf.add_font("Certificate", "", font)
        family = "Certificate"

        def clean(value: str) -> str:
            return value
    else:  # pragma: no cover - only on a machine without any TrueType font
        family = "Helvetica"

        def clean(value: str) -> str:
            return value.encode("latin-1", "replace").decode("latin-1")

    pdf.set_draw_color(120, 20, 20)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 277, 190)
    pdf.set_line_width(0.3)
    pdf.rect(14, 14, 269, 182)

    def centred(value: str, size: int, height: float, gap: float = 0) -> None:
        pdf.set_font(family, size=size)
        pdf.set_x(25)
        pdf.multi_cell(247, height, clean(value), align="C", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        if gap:
            pdf.ln(gap)

    pdf.set_y(28)
    if text["cancelled"]:
        pdf.set_text_color(150, 20, 20)
        pdf.set_y(18)
        centred(text["cancelled"], 10, 5)
        pdf.set_text_color(0, 0, 0)
        pdf.set_y(30)
    centred(text["society"], 24, 11, 2)
    centred(text["registered"], 10, 5)
    centred(text["address"], 10, 5, 10)
    centred(text["title"].upper(), 20, 10, 2)
    centred(text["certificate"], 12, 6, 10)
    centred(text["statement"], 14, 8, 12)
    centred(text["note"], 9, 5)
    pdf.set_y(172)
    pdf.set_font(family, size=10)
    pdf.set_x(30)
    pdf.cell(100, 6, clean("Secretary: ______________________"))
    pdf.set_x(167)
    pdf.cell(100, 6, clean("Director: ______________________"), align="R")
    return bytes(pdf.output())
