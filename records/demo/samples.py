"""Sample printouts and exports of the fictional district, made here (no real person).

What a records clerk receives in a week: a printed email (born-digital PDF), a phone
photo of a printed text conversation (scanned image), a forwarded email, a mail file,
an Android SMS backup and a Facebook download, plus one file that is not a document.
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import json
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

NY = dt.timezone(dt.timedelta(hours=-5))

PRINTED_EMAIL = [
    "From: Elena Marsh <emarsh@schools.example.org>",
    "Sent: Tuesday, March 5, 2024 3:14 PM",
    "To: Ana Rivera <ana.rivera@example.net>",
    "Subject: Field trip permission slip",
    "",
    "Dear Ms. Rivera,",
    "Maya left her permission slip for the science museum trip in my classroom.",
    "Could you sign the copy I am sending home with her and return it by Friday?",
    "Thank you, Elena Marsh",
]
PRINTED_TEXTS = [
    "Messages with (617) 555-0142",
    "Tuesday, April 9, 2024",
    "(617) 555-0142: Is the bus still leaving at 8:30 tomorrow?",
    "Me: Yes, please have Liam there by 8:15.",
    "(617) 555-0142: Thank you, he will be there.",
]


def _font(size: int) -> ImageFont.FreeTypeFont:
    import reportlab

    for candidate in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")):
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size=size)
    return ImageFont.load_default()


def printed_email_pdf(path: Path) -> Path:
    pdf = canvas.Canvas(str(path), pagesize=letter, invariant=1)  # same text, same bytes
    y = 740
    for line in PRINTED_EMAIL:
        pdf.drawString(72, y, line)
        y -= 16
    pdf.save()
    return path


def photographed_texts(path: Path, dpi: int = 200) -> Path:
    image = Image.new("L", (int(8.5 * dpi), int(11 * dpi)), 255)
    draw = ImageDraw.Draw(image)
    font = _font(int(dpi * 0.16))
    y = dpi
    for line in PRINTED_TEXTS:
        draw.text((dpi, y), line, fill=0, font=font)
        y += int(dpi * 0.3)
    image.rotate(1.5, fillcolor=255, expand=False).save(path, "PNG", dpi=(dpi, dpi))
    return path


def _email(sender: str, to: str, subject: str, when: dt.datetime, body: str, message_id: str) -> email.message.EmailMessage:
    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(when)
    message["Message-ID"] = message_id
    message.set_content(body)
    return message


def forwarded_email(path: Path) -> Path:
    body = (
        "Forwarding for Maya's file.\n\n---------- Forwarded message ---------\n"
        "From: Ana Rivera <ana.rivera@example.net>\nDate: Mon, Mar 4, 2024 at 7:02 PM\n"
        "Subject: Maya's absence\nTo: Elena Marsh <emarsh@schools.example.org>\n\n"
        "Maya will be absent on Thursday for a doctor's appointment.\n"
    )
    message = _email("Elena Marsh <emarsh@schools.example.org>", "records@schools.example.org", "Fwd: Maya's absence",
                     dt.datetime(2024, 3, 5, 8, 0, tzinfo=NY), body, "<fwd-0001@schools.example.org>")
    path.write_bytes(bytes(message))
    return path


def mail_file(path: Path) -> Path:
    messages = [
        _email("Ana Rivera <ana.rivera@example.net>", "Elena Marsh <emarsh@schools.example.org>", "Maya's absence",
               dt.datetime(2024, 3, 4, 19, 2, tzinfo=NY), "Maya will be absent on Thursday for a doctor's appointment.\n", "<orig-0001@example.net>"),
        _email("Elena Marsh <elena.marsh.home@example.com>", "Sam Marsh <sam@example.com>", "Dinner on Sunday?",
               dt.datetime(2024, 3, 6, 18, 30, tzinfo=NY), "Are we still on for dinner at Mom's?\n", "<home-0002@example.com>"),
    ]
    with path.open("wb") as out:
        for message in messages:
            out.write(b"From MAILER-DAEMON Thu Mar 07 10:00:00 2024\n")
            out.write(bytes(message).replace(b"\r\n", b"\n") + b"\n")
    return path


def sms_backup(path: Path) -> Path:
    def ms(*args: int) -> int:
        return int(dt.datetime(*args, tzinfo=NY).timestamp() * 1000)

    rows = [
        ("(617) 555-0142", ms(2024, 4, 9, 18, 1), 1, "Is the bus still leaving at 8:30 tomorrow?"),
        ("(617) 555-0142", ms(2024, 4, 9, 18, 4), 2, "Yes, please have Liam there by 8:15."),
        ("(617) 555-0199", ms(2024, 4, 10, 20, 0), 1, "Happy birthday sis!"),
    ]
    body = "".join(
        f'  <sms protocol="0" address={quoteattr(a)} date="{d}" type="{t}" body={quoteattr(b)} read="1" status="-1" contact_name="(Unknown)" />\n'
        for a, d, t, b in rows
    )
    path.write_text(f"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"{len(rows)}\">\n{body}</smses>\n", encoding="utf-8")
    return path


def _mojibake(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def facebook_download(path: Path) -> Path:
    def ms(*args: int) -> int:
        return int(dt.datetime(*args, tzinfo=NY).timestamp() * 1000)

    messages = [
        {"sender_name": _mojibake("José Santos"), "timestamp_ms": ms(2023, 10, 2, 17, 0), "content": _mojibake("Will José need cleats for Saturday's game?")},
        {"sender_name": "David Lindqvist", "timestamp_ms": ms(2023, 10, 2, 17, 20), "content": "Yes, cleats and a water bottle."},
    ]
    thread = {
        "participants": [{"name": _mojibake("José Santos")}, {"name": "David Lindqvist"}],
        "messages": sorted(messages, key=lambda m: -m["timestamp_ms"]),
        "title": _mojibake("José Santos"), "thread_type": "Regular", "thread_path": "inbox/josesantos_10158834",
    }
    profile = {"profile_v2": {"name": {"full_name": "David Lindqvist"}}}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (
            ("personal_information/profile_information/profile_information.json", profile),
            ("your_facebook_activity/messages/inbox/josesantos_10158834/message_1.json", thread),
        ):
            # A fixed member time: the same export, made again, is the same bytes (a duplicate).
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 6, 1, 12, 0, 0)), json.dumps(data), zipfile.ZIP_DEFLATED)
    return path


def not_a_document(path: Path) -> Path:
    import sys

    path.write_bytes(Path(sys.executable).resolve().read_bytes()[:65536])
    return path


def write_samples(folder: Path) -> dict[str, list[Path]]:
    """The week's files, grouped by whose they are (None: the school mailbox)."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "clerk": [
            printed_email_pdf(folder / "printed-email.pdf"),
            photographed_texts(folder / "IMG_2041.png"),
            forwarded_email(folder / "forward.eml"),
            not_a_document(folder / "report.pdf"),
        ],
        "T100": [mail_file(folder / "elena-takeout.mbox")],
        "T107": [sms_backup(folder / "sms-20240510.xml")],
        "T103": [facebook_download(folder / "facebook-david.zip")],
    }
