"""Issue 14, items 8 and 9: a file is stored and served as what its content is, and no
polyglot or decompression bomb reaches a reviewer. The hostile files are built here."""

import io
import random
import struct
import zipfile
import zlib

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from proposals import services
from proposals.models import Attachment, City
from smartjamp import uploads

from .factories import docx_bytes, image_bytes, make_proposal, pdf_bytes, upload
from .views.test_cities import letter, registration

ATTACHMENT_TYPES = services.ATTACHMENT_TYPES
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = "image/png"
JPEG = "image/jpeg"
MiB = 1024 * 1024
ZEROS = bytes(MiB)


def check(name: str, content: bytes) -> str:
    return uploads.check_upload(
        SimpleUploadedFile(name, content), allowed=ATTACHMENT_TYPES, max_bytes=20 * MiB
    )


def refusal(name: str, content: bytes) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        check(name, content)
    return raised.value.messages


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG declaring width × height black-and-white pixels, with one empty row of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def office_file(members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A DOCX with the given extra parts (name → content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def zeros_member(archive: zipfile.ZipFile, name: str, size: int) -> None:
    with archive.open(name, "w", force_zip64=False) as member:
        for _ in range(size // MiB):
            member.write(ZEROS)


def zip_bomb(*, parts: int, part_size: int, document="word/document.xml") -> bytes:
    """An office file (a DOCX, or an XLSX with document="xl/workbook.xml") of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(document, "<document/>")
        for n in range(parts):
            zeros_member(archive, f"{document.partition('/')[0]}/media/zeros{n}.bin", part_size)
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    workbook = openpyxl.Workbook()
    workbook.active.append(["Item", "Cost (USD)"])
    workbook.active.append(["Flood sensors", 120000])
    workbook.save(buffer)
    return buffer.getvalue()


# Item 8: a file must be what its name says ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("report.pdf.html", PDF, "report-pdf-html.pdf"),
        ("shell.php", PDF, "shell-php.pdf"),
        ("x.svg", PDF, "x-svg.pdf"),
        ("a.exe", PDF, "a-exe.pdf"),
        ("Ghi chú.pdf", PDF, "Ghi chú.pdf"),
        ("SCAN.PDF", PDF, "SCAN.pdf"),
        ("Budget v1.2.xlsx", XLSX, "Budget v1-2.xlsx"),
        ("photo.jpeg", JPEG, "photo.jpeg"),
        ("photo.png", JPEG, "photo-png.jpg"),
        ("map", PNG, "map.png"),
        ("../../.pdf", PDF, "pdf.pdf"),
        ("", DOCX, "file.docx"),
        ("a" * 200 + ".exe", PDF, "a" * 96 + ".pdf"),
    ],
)
def test_checked_file_name_ends_in_the_extension_of_the_content(name, content_type, expected):
    assert uploads.checked_file_name(name, content_type) == expected


@pytest.mark.parametrize(
    ("name", "stored_name"),
    [
        ("report.pdf.html", "report-pdf-html.pdf"),
        ("shell.php", "shell-php.pdf"),
        ("x.svg", "x-svg.pdf"),
        ("a.exe", "a-exe.pdf"),
    ],
)
def test_attachment_is_stored_and_served_under_the_extension_of_its_content(
    client, call, danang, danang_editor, name, stored_name
):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    client.force_login(danang_editor)
    response = client.post(
        reverse("proposal_attachment_upload", args=[proposal.code]),
        {"kind": "other", "file": upload(name, pdf_bytes(), "text/html")},
        follow=True,
    )
    assert f"{stored_name} is attached." in response.content.decode()
    attachment = Attachment.objects.get(proposal=proposal)
    assert (attachment.name, attachment.content_type) == (stored_name, "application/pdf")
    assert attachment.file.name.endswith(".pdf")
    download = client.get(reverse("proposal_attachment", args=[proposal.code, attachment.code]))
    assert download["Content-Disposition"] == f'attachment; filename="{stored_name}"'
    assert download["Content-Type"] == "application/pdf"
    assert download["X-Content-Type-Options"] == "nosniff"


def test_attachment_stored_before_the_fix_is_served_under_the_extension_of_its_content(
    client, call, danang, danang_editor
):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    attachment = services.add_attachment(
        user=danang_editor, proposal=proposal, kind="other", upload=upload("note.pdf")
    )
    Attachment.objects.filter(pk=attachment.pk).update(name="note.pdf.html")
    client.force_login(danang_editor)
    download = client.get(reverse("proposal_attachment", args=[proposal.code, attachment.code]))
    assert download["Content-Disposition"] == 'attachment; filename="note-pdf-html.pdf"'


def test_city_letter_is_stored_and_served_under_the_extension_of_its_content(client, official):
    client.force_login(official)
    client.post(
        reverse("register_city"),
        registration(authorisation_letter=letter("letter.pdf.html", pdf_bytes())),
    )
    city = City.objects.get(name="Huế")
    assert city.letter_name == "letter-pdf-html.pdf"
    assert city.authorisation_letter.name.endswith(".pdf")
    download = client.get(reverse("city_letter", args=[city.code]))
    assert download["Content-Disposition"] == 'attachment; filename="letter-pdf-html.pdf"'
    assert download["Content-Type"] == "application/pdf"
    assert download["X-Content-Type-Options"] == "nosniff"


SCRIPT = b"<script>alert(document.cookie)</script>"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "map.png",
            image_bytes("PNG") + SCRIPT,
            "This PNG file has data after the end of the image, so it was not accepted. "
            "Save it again from the program that made it.",
        ),
        ("photo.jpg", image_bytes("JPEG") + SCRIPT, None),
        ("note.pdf", pdf_bytes("x") + b"<html><body>" + SCRIPT + b"</body></html>", None),
        ("note.pdf", pdf_bytes("<IFRAME SRC=https://example.org>"), None),
        ("note.pdf", pdf_bytes("/URI (JavaScript:alert(1))"), None),
        ("note.pdf", pdf_bytes('<img src=x onerror="alert(1)">'), None),
        ("note.pdf", pdf_bytes("<svg/onload=alert(1)>"), None),
        (
            "plan.docx",
            office_file({"word/page.html": SCRIPT}, compression=zipfile.ZIP_STORED),
            None,
        ),
    ],
    ids=[
        "png-then-script",
        "jpeg-then-script",
        "pdf-with-html-page",
        "pdf-with-iframe",
        "pdf-with-javascript-url",
        "pdf-with-event-handler",
        "pdf-with-svg-onload",
        "docx-with-stored-script",
    ],
)
def test_check_upload_refuses_polyglots_a_browser_could_run(name, content, message):
    kind = {"png": "PNG", "jpg": "JPEG", "pdf": "PDF", "docx": "DOCX"}[name.rpartition(".")[2]]
    assert refusal(name, content) == [
        message
        or f"This {kind} file also contains web page code (such as a script) that a browser "
        "could run, so it was not accepted. Save it again from the program that made it."
    ]


def test_check_upload_accepts_real_files_without_false_alarms():
    # A compressed stream looks like random bytes; 4 MiB of them hold no marker by chance.
    noise = random.Random(14).randbytes(4 * MiB)
    pdf = pdf_bytes("Flood <early> warning on site=3") + b"stream\n" + noise + b"\nendstream\n"
    assert check("note.pdf", pdf) == PDF
    assert check("map.png", image_bytes("PNG", (1600, 1200))) == PNG
    assert check("photo.jpg", image_bytes("JPEG", (1600, 1200))) == JPEG
    assert check("plan.docx", docx_bytes()) == DOCX
    assert check("budget.xlsx", xlsx_bytes()) == XLSX
    # A chart's workbook, embedded in a document, is an archive in an archive.
    chart = office_file({"word/embeddings/Microsoft_Excel_Worksheet.xlsx": xlsx_bytes()})
    assert check("plan.docx", chart) == DOCX


def test_polyglot_upload_is_refused_in_the_browser_form(client, call, danang, danang_editor):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    client.force_login(danang_editor)
    response = client.post(
        reverse("proposal_attachment_upload", args=[proposal.code]),
        {"kind": "map", "file": upload("map.png", image_bytes("PNG") + SCRIPT, "image/png")},
        follow=True,
    )
    assert "This PNG file has data after the end of the image" in response.content.decode()
    assert not Attachment.objects.filter(proposal=proposal).exists()


# Item 9: decompression bombs ---------------------------------------------------------------


def test_check_upload_refuses_an_office_file_that_unpacks_past_the_limit():
    # 101 parts of 1 MiB of zeros: each under the ratio's grace size, 101 MiB in all.
    bomb = zip_bomb(parts=101, part_size=MiB)
    assert len(bomb) < 2 * MiB
    assert refusal("plan.docx", bomb) == [
        "This DOCX file would unpack to 101.0\xa0MB; at most 100.0\xa0MB is accepted."
    ]


def test_check_upload_refuses_a_512_mib_xlsx_zip_bomb():
    bomb = zip_bomb(parts=1, part_size=512 * MiB, document="xl/workbook.xml")
    assert len(bomb) < MiB
    assert refusal("budget.xlsx", bomb) == [
        "This XLSX file would unpack to 512.0\xa0MB; at most 100.0\xa0MB is accepted."
    ]


def test_check_upload_refuses_a_part_that_unpacks_a_hundredfold():
    bomb = zip_bomb(parts=1, part_size=2 * MiB)
    assert refusal("plan.docx", bomb) == [
        "This DOCX file contains a part that unpacks to over 100 times its stored size, as "
        "decompression bombs do, so it was not accepted."
    ]


def test_check_upload_refuses_an_office_file_of_too_many_parts():
    content = office_file({f"word/part{n}.xml": b"<p/>" for n in range(2000)})
    assert refusal("plan.docx", content) == [
        "This DOCX file has 2002 parts; at most 2000 are accepted."
    ]


def test_check_upload_refuses_a_bomb_inside_an_embedded_workbook():
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as workbook:
        workbook.writestr("[Content_Types].xml", "<Types/>")
        zeros_member(workbook, "xl/worksheets/sheet1.xml", 101 * MiB)
    content = office_file(
        {"word/embeddings/Microsoft_Excel_Worksheet.xlsx": inner.getvalue()},
        compression=zipfile.ZIP_STORED,
    )
    assert len(content) < MiB
    # The workbook's 101 MiB of zeros, and its own packed bytes in the document.
    assert refusal("plan.docx", content) == [
        "This DOCX file would unpack to 101.1\xa0MB; at most 100.0\xa0MB is accepted."
    ]


def test_check_upload_refuses_an_office_file_whose_sizes_lie():
    content = bytearray(zip_bomb(parts=1, part_size=MiB))
    # Declare the zeros as 1,000 bytes, in the local header and the central directory.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = content.rindex(signature)
        content[at + offset : at + offset + 4] = struct.pack("<I", 1000)
    assert refusal("plan.docx", bytes(content)) == [
        "This file is not a valid DOCX document; it may be damaged."
    ]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (
            {"word/vbaProject.bin": b"\xd0\xcf\x11\xe0 macro"},
            "This DOCX file contains macros, which are not accepted. Save it again as a DOCX "
            "file without macros.",
        ),
        ({"../../etc/passwd": b"x"}, "This file is not a valid DOCX document; it may be damaged."),
    ],
    ids=["macros", "traversal-name"],
)
def test_check_upload_refuses_office_files_with_macros_or_odd_parts(members, message):
    assert refusal("plan.docx", office_file(members)) == [message]


def test_check_upload_refuses_a_zip_without_office_content_types():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    assert refusal("plan.docx", buffer.getvalue()) == [
        "This file is not a valid DOCX document; it may be damaged."
    ]


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8000, 7500),
        # Past Pillow's own limit it warns (here an error, as under `python -W error`).
        pytest.param(
            10_000,
            10_000,
            marks=pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning"),
        ),
        (20_000, 20_000),  # past twice Pillow's limit it raises
    ],
    ids=["60-megapixels", "100-megapixels", "400-megapixels"],
)
def test_check_upload_refuses_an_image_of_too_many_pixels(width, height):
    content = png_header_only(width, height)
    assert len(content) < 100
    assert refusal("map.png", content) == [
        "This image has more than 50 million pixels; make it smaller and upload it again."
    ]


def test_check_upload_refuses_an_image_it_cannot_read():
    assert refusal("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)) == [
        "This image could not be read; it may be damaged. Save it again and upload it again."
    ]


def test_zip_bomb_upload_is_refused_in_the_browser_form(
    client, call, danang, danang_editor, private_files
):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    client.force_login(danang_editor)
    before = private_files()
    response = client.post(
        reverse("proposal_attachment_upload", args=[proposal.code]),
        {"kind": "budget", "file": upload("budget.docx", zip_bomb(parts=1, part_size=200 * MiB))},
        follow=True,
    )
    assert "This DOCX file would unpack to 200.0\xa0MB" in response.content.decode().replace(
        "&nbsp;", "\xa0"
    )
    assert not Attachment.objects.filter(proposal=proposal).exists()
    assert private_files() == before


# Found by the security review --------------------------------------------------------------


def test_check_upload_refuses_a_picture_bomb_inside_an_office_file():
    bomb = png_header_only(40_000, 40_000)  # 1.6 gigapixels in a few bytes
    assert refusal("photo.png", bomb)
    messages = refusal("plan.docx", office_file({"word/media/image1.png": bomb}))
    assert messages == [
        "This image has more than 50 million pixels; make it smaller and upload it again."
    ]
    # Many pictures within the limit each, too many in all.
    many = {f"word/media/image{n}.png": png_header_only(7000, 7000) for n in range(5)}
    assert refusal("plan.docx", office_file(many)) == [
        "The pictures in this DOCX file have too many pixels in all."
    ]


def test_check_upload_finds_an_embedded_workbook_behind_a_leading_byte():
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as workbook:
        workbook.writestr("[Content_Types].xml", "<Types/>")
        zeros_member(workbook, "xl/worksheets/sheet1.xml", 101 * MiB)
    content = office_file(
        {"word/embeddings/Microsoft_Excel_Worksheet.xlsx": b"\x00" + inner.getvalue()},
        compression=zipfile.ZIP_STORED,
    )
    assert refusal("plan.docx", content)[0].startswith("This DOCX file would unpack to 101")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.pdf", pdf_bytes() + b'<img src=x title="' + b"A" * 250 + b'" onerror=alert(1)>'),
        ("a.pdf", pdf_bytes() + b'<img alt="x>" onerror=alert(document.domain) src=x>'),
        ("a.pdf", pdf_bytes() + b'<a href="javascript&colon;alert(1)">x</a>'),
        ("a.pdf", pdf_bytes() + b"<< /S /JavaScript /JS (app.alert(1)) >>"),
        ("a.pdf", pdf_bytes() + b"<< /S /Launch /F (cmd.exe) >>"),
        ("a.pdf", pdf_bytes() + b"<< /S /J#61vaScr#49pt /JS (app.alert(1)) >>"),
        ("a.pdf", pdf_bytes() + b"<< /S /#4C#61#75#6e#63#68 /F (cmd.exe) >>"),
    ],
    ids=[
        "padded-handler",
        "quoted-gt",
        "entity-colon",
        "pdf-javascript",
        "pdf-launch",
        "pdf-javascript-escaped",
        "pdf-launch-escaped",
    ],
)
def test_check_upload_refuses_active_content_the_review_found(name, content):
    assert refusal(name, content)


def test_check_upload_refuses_macros_declared_under_another_name():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types><Override ContentType="application/vnd.ms-office.vbaProject" '
            'PartName="/word/macros.bin"/></Types>',
        )
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/macros.bin", b"\xd0\xcf\x11\xe0 macro")
    content = buffer.getvalue()
    assert refusal("plan.docx", content) == [
        "This DOCX file contains macros, which are not accepted. Save it again as a DOCX file "
        "without macros."
    ]
