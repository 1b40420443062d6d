"""Checks on uploaded files: by their content and size, never by the name the uploader gave."""

import io
import os
import re
import shutil
import struct
import tempfile
import unicodedata
import zipfile
import zlib

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import FileResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = "image/png"
JPEG = "image/jpeg"
# The office documents accepted as uploads (attachments, deliverables), by the name people
# know each format by.
DOCUMENTS = {PDF: "PDF", DOCX: "DOCX", XLSX: "XLSX"}

# The extension each checked type is stored and downloaded with; the first is added to a name
# that has none of them ("photo.jpeg" keeps its ".jpeg").
EXTENSIONS = {
    PDF: ("pdf",),
    DOCX: ("docx",),
    XLSX: ("xlsx",),
    PNG: ("png",),
    JPEG: ("jpg", "jpeg"),
}

# Office files are zip archives. A 20 MB document or workbook of text and pictures unpacks to
# well under 100 MiB in a few hundred parts; a decompression bomb unpacks to gigabytes.
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_PARTS = 2000
# Deflate reaches about 1,000:1 on repeated bytes, office XML about 10-30:1. Apache POI, which
# reads office files for a living, refuses past 100:1 too; a small part (an empty sheet) may
# compress better, so the ratio counts only past the grace size.
MAX_RATIO = 100
RATIO_GRACE_BYTES = 1024 * 1024
# A central directory entry is 46 bytes and a name; office part names are short. Checked from
# the end record before zipfile parses the directory, which it does whole, into memory.
MAX_DIRECTORY_BYTES = MAX_PARTS * 1024
# The largest phone photos are 50 megapixels (8160 × 6120); a 100-megapixel image takes about
# 400 MB of memory to open. Pillow's own guard (about 89 megapixels) stays as it is.
MAX_IMAGE_PIXELS = 50_000_000
# The pictures inside one office file: at most this many times MAX_IMAGE_PIXELS in all.
MAX_IMAGES_PIXELS_FACTOR = 4
CHUNK_BYTES = 1024 * 1024


def sanitise_file_name(name: str, *, max_length: int = 100) -> str:
    """A file name safe to show and to offer as a download name: no path, no control characters."""
    base = os.path.basename(name.replace("\\", "/"))
    base = unicodedata.normalize("NFC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] not in {"C", "Z"} or ch == " ")
    base = re.sub(r"[\"'<>:|?*;]", "", base).strip(" .")
    if not base:
        return "file"
    stem, dot, extension = base.rpartition(".")
    if dot and len(base) > max_length:
        extension = extension[:10]
        return (stem[: max_length - len(extension) - 1] + "." + extension)[:max_length]
    return base[:max_length]


def sniff_content_type(uploaded: UploadedFile) -> str | None:
    uploaded.seek(0)
    head = uploaded.read(8192)
    uploaded.seek(0)
    kind = filetype.guess(head)
    return kind.mime if kind else None


def file_download(file, name: str, content_type: str) -> FileResponse:
    """A stored upload as a download, named after its checked content (`checked_file_name`,
    which also renames a file stored before names were made to match their content)."""
    return FileResponse(
        file.open("rb"),
        as_attachment=True,
        filename=checked_file_name(name, content_type),
        content_type=content_type,
    )


def checked_file_name(name: str, content_type: str, *, max_length: int = 100) -> str:
    """The uploader's name, sanitised, ending in the one extension of its checked content.

    A name keeps its last extension only if it is the content's ("Ghi chú.pdf"); otherwise
    the content's is added. The other dots become hyphens, so "report.pdf.html" checked as a
    PDF is "report-pdf-html.pdf": a reviewer's disk opens it as what it is, and no web server
    that handles every extension of a name (Apache's "shell.php.pdf") meets a second one.
    """
    extensions = EXTENSIONS[content_type]
    base = sanitise_file_name(name, max_length=max_length)
    stem, dot, extension = base.rpartition(".")
    if dot and extension.lower() in extensions:
        extension = extension.lower()
    else:
        stem, extension = base, extensions[0]
    stem = re.sub(r"\.+", "-", stem).strip("-") or "file"
    return f"{stem[: max_length - len(extension) - 1]}.{extension}"


def check_upload(uploaded: UploadedFile, *, allowed: dict[str, str], max_bytes: int) -> str:
    """Refuse a file that is too large, not one of `allowed`, or not only what it seems to be.

    `allowed` maps a MIME type to the name people know the format by ("PDF"). Returns the
    checked MIME type: store and serve the file as that (see checked_file_name).
    """
    if uploaded.size is None or uploaded.size == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    if uploaded.size > max_bytes:
        raise ValidationError(
            _("The file is %(size)s; at most %(limit)s is accepted.")
            % {"size": filesizeformat(uploaded.size), "limit": filesizeformat(max_bytes)},
            code="too_large",
        )
    mime = sniff_content_type(uploaded)
    if mime not in allowed:
        raise ValidationError(
            _("This file is not a %(formats)s document (its content was checked, not its name).")
            % {"formats": _(" or ").join(allowed.values())},
            code="wrong_type",
        )
    label = allowed[mime]
    if mime == PNG:
        _check_png_end(uploaded, label)
    if mime in (PNG, JPEG):
        _check_pixels(uploaded)
    if mime in (DOCX, XLSX):
        _check_office_file(uploaded, label)
    _refuse_active_content(uploaded, label, pdf=mime == PDF)
    uploaded.seek(0)
    return mime


# Each alternative is long or particular enough that a compressed stream's random bytes hold
# one by chance in about one 20 MB file in 150,000 (the event handler, mostly), and in a smaller
# file proportionally less often. Searched in lower-cased windows.
ACTIVE_CONTENT = re.compile(
    rb"<(?:(?:script|i?frame|object|embed|applet)[\s/>]|!doctype\s+html"
    # An event handler in a tag: <img src=x onerror=...>, <svg/onload=...>.
    # The attribute may follow quoted values holding ">": anything but "<" up to 1000 bytes.
    rb"|[a-z][^<]{0,1000}?[\s/\"']on(?:[a-z]{5,}|cut|end|blur|copy|drag|drop|help|load|move"
    rb"|play|show|stop|zoom)\s*=)"
)
# Script addresses, also with the colon written as an HTML character reference.
SCRIPT_URLS = tuple(
    scheme + colon
    for scheme in (b"javascript", b"vbscript")
    for colon in (b":", b"&colon;", b"&#58;", b"&#x3a;")
)


def _pdf_name(name: str) -> bytes:
    # A PDF name may write any of its characters as #xx (/J#61vaScript is /JavaScript): each
    # letter literally (the window is lower-cased) or as the escape of either of its cases.
    return b"".join(
        b"(?:%s|#%02x|#%02x)" % (re.escape(c.encode()), ord(c.lower()), ord(c.upper()))
        for c in name
    )


# A PDF's own scripts and launch actions (the names are long: no chance match).
PDF_ACTIONS = re.compile(b"/(?:%s|%s)" % (_pdf_name("javascript"), _pdf_name("launch")))
MAX_MATCH_BYTES = 2048  # longer than any match of ACTIVE_CONTENT: windows overlap by this much


def _refuse_active_content(uploaded: UploadedFile, label: str, *, pdf: bool = False) -> None:
    """Refuse a file that is also a web page: HTML that a browser could run, anywhere in it.

    The file is read in 1 MiB windows and searched, ignoring case, for a script, frame,
    object or embed tag, an HTML doctype, an event-handler attribute in a tag, or a
    javascript:/vbscript: address. Tags that run nothing by themselves (<html>, <svg>) are
    not searched for: they are short enough to turn up by chance in compressed data, and what
    would run inside them is searched for. A PDF may not carry scripts or launch actions of its
    own either. This is a backstop for when the file leaves the portal; the defence is that it
    is stored, named, typed and served as its checked content.
    """
    uploaded.seek(0)
    tail = b""
    while chunk := uploaded.read(CHUNK_BYTES):
        window = (tail + chunk).lower()
        if (
            ACTIVE_CONTENT.search(window)
            or any(url in window for url in SCRIPT_URLS)
            or (pdf and PDF_ACTIONS.search(window))
        ):
            raise ValidationError(
                _(
                    "This %(format)s file also contains web page code (such as a script) that a "
                    "browser could run, so it was not accepted. Save it again from the program "
                    "that made it."
                )
                % {"format": label},
                code="active_content",
            )
        tail = window[-MAX_MATCH_BYTES:]


# The IEND chunk: no data, and so always the same CRC.
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _check_png_end(uploaded: UploadedFile, label: str) -> None:
    # A PNG ends with its IEND chunk; what follows it is no image and is what polyglots use.
    uploaded.seek(max(uploaded.size - len(PNG_END), 0))
    if uploaded.read(len(PNG_END)) != PNG_END:
        raise ValidationError(
            _(
                "This %(format)s file has data after the end of the image, so it was not "
                "accepted. Save it again from the program that made it."
            )
            % {"format": label},
            code="trailing_data",
        )


def reencoded_image(uploaded: UploadedFile, content_type: str) -> SimpleUploadedFile:
    """Only the pixels of an image check_upload accepted (PNG or JPEG): decoded and encoded
    again, without its metadata (text chunks, EXIF) or anything after its end, so that what the
    portal serves to the public is an image and nothing else (a page in a PNG's text chunk or
    after a JPEG's end would pass the content checks). For images shown to anybody."""
    uploaded.seek(0)
    with Image.open(uploaded, formats=["PNG", "JPEG"]) as image:
        image.load()
        buffer = io.BytesIO()
        if content_type == PNG:
            image.save(buffer, format="PNG", optimize=True)
        else:
            image.save(buffer, format="JPEG", quality=90)
    extension = EXTENSIONS[content_type][0]
    return SimpleUploadedFile(f"image.{extension}", buffer.getvalue(), content_type=content_type)


def _check_pixels(uploaded) -> int:
    """Refuse an image of more than MAX_IMAGE_PIXELS, reading its header only; its pixels."""
    too_large = ValidationError(
        _("This image has more than %(limit)s million pixels; make it smaller and upload it again.")
        % {"limit": MAX_IMAGE_PIXELS // 1_000_000},
        code="too_many_pixels",
    )
    uploaded.seek(0)
    try:
        # Image.open reads the header, not the pixels. Pillow warns past its own limit and
        # raises past twice it; the warning stays a warning unless warnings are errors.
        with Image.open(uploaded, formats=["PNG", "JPEG"]) as image:
            width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except Exception:  # Pillow raises many kinds of error on a damaged header
        raise ValidationError(
            _(
                "This image could not be read; it may be damaged. Save it again and upload it again."
            ),
            code="damaged",
        ) from None
    if width * height > MAX_IMAGE_PIXELS:
        raise too_large
    return width * height


def _check_office_file(uploaded: UploadedFile, label: str) -> None:
    """Refuse an office file that is not one, has macros, or unpacks to too much.

    The limits are checked on the sizes the central directory declares, then every part is
    unpacked in bounded chunks and thrown away, so a part whose data does not match its
    declared size and CRC (a directory that lies) is refused too. An office file embedded in
    it (a chart's workbook) is checked the same way, against the same totals; an archive
    inside that one is refused. Time and memory are bounded by MAX_UNPACKED_BYTES and
    CHUNK_BYTES.
    """
    damaged = ValidationError(
        _("This file is not a valid %(format)s document; it may be damaged.") % {"format": label},
        code="damaged",
    )
    try:
        with zipfile.ZipFile(_bounded_directory(uploaded, damaged, label)) as archive:
            if "[Content_Types].xml" not in archive.namelist():
                raise damaged
            with archive.open("[Content_Types].xml") as types:
                declared = types.read(CHUNK_BYTES).lower()
            if b"vbaproject" in declared or b"macroenabled" in declared:
                raise _macros(label)  # macros under another part's name
            _check_archive(archive, label, damaged, totals=[0, 0, 0], nested=False)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, ValueError, zlib.error):
        # RuntimeError: an encrypted part; NotImplementedError (a RuntimeError): an unknown
        # compression method. Office files have neither.
        raise damaged from None


def _bounded_directory(file, damaged: ValidationError, label: str):
    """`file`, after checking from its end record that its central directory is small."""
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(max(size - 22 - 65535, 0))  # the end record, after a comment of at most 64 KiB
    end = file.read()
    at = end.rfind(b"PK\x05\x06")
    if at < 0 or len(end) - at < 22:
        raise damaged
    parts, directory_bytes = struct.unpack("<HL", end[at + 10 : at + 16])
    if parts == 0xFFFF or directory_bytes == 0xFFFFFFFF:
        raise damaged  # ZIP64, which an office file of 20 MB never needs
    if parts > MAX_PARTS:
        raise _too_many_parts(label, parts)
    if directory_bytes > MAX_DIRECTORY_BYTES:
        raise damaged
    file.seek(0)
    return file


def _too_many_parts(label: str, count: int) -> ValidationError:
    return ValidationError(
        _("This %(format)s file has %(count)d parts; at most %(limit)d are accepted.")
        % {"format": label, "count": count, "limit": MAX_PARTS},
        code="too_many_parts",
    )


def _check_archive(archive, label, damaged, *, totals: list[int], nested: bool) -> None:
    members = archive.infolist()
    totals[0] += len(members)
    totals[1] += sum(member.file_size for member in members)
    if totals[0] > MAX_PARTS:
        raise _too_many_parts(label, totals[0])
    if totals[1] > MAX_UNPACKED_BYTES:
        raise ValidationError(
            _("This %(format)s file would unpack to %(size)s; at most %(limit)s is accepted.")
            % {
                "format": label,
                "size": filesizeformat(totals[1]),
                "limit": filesizeformat(MAX_UNPACKED_BYTES),
            },
            code="unpacks_too_large",
        )
    for member in members:
        name = member.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            raise damaged
        if member.file_size > max(RATIO_GRACE_BYTES, MAX_RATIO * member.compress_size):
            raise ValidationError(
                _(
                    "This %(format)s file contains a part that unpacks to over %(ratio)d times "
                    "its stored size, as decompression bombs do, so it was not accepted."
                )
                % {"format": label, "ratio": MAX_RATIO},
                code="compression_ratio",
            )
        if name.rpartition("/")[2].lower() == "vbaproject.bin":
            raise _macros(label)
    for member in members:
        # Every part is unpacked (zipfile checks its size and CRC at the end) into a bounded
        # copy, and what it holds is checked: an archive (recognised by its end record, as
        # zip readers do, not by its first bytes) against the same totals, an image's pixels.
        with archive.open(member) as part, tempfile.SpooledTemporaryFile(CHUNK_BYTES) as copy:
            shutil.copyfileobj(part, copy, CHUNK_BYTES)
            copy.seek(0)
            head = copy.read(4)
            if head.startswith((b"\x89PNG", b"\xff\xd8")):
                totals[2] += _check_pixels(copy)
                if totals[2] > MAX_IMAGE_PIXELS * MAX_IMAGES_PIXELS_FACTOR:
                    raise ValidationError(
                        _("The pictures in this %(format)s file have too many pixels in all.")
                        % {"format": label},
                        code="too_many_pixels",
                    )
            elif zipfile.is_zipfile(copy):
                if nested:
                    raise ValidationError(
                        _(
                            "This %(format)s file contains archives inside archives, which is "
                            "not accepted."
                        )
                        % {"format": label},
                        code="nested_archive",
                    )
                with zipfile.ZipFile(_bounded_directory(copy, damaged, label)) as inner:
                    _check_archive(inner, label, damaged, totals=totals, nested=True)


def _macros(label: str) -> ValidationError:
    return ValidationError(
        _(
            "This %(format)s file contains macros, which are not accepted. Save it again as a "
            "%(format)s file without macros."
        )
        % {"format": label},
        code="macros",
    )


class SizeCappedUploadHandler(FileUploadHandler):
    """Stops writing a file part once it passes UPLOAD_HARD_LIMIT_BYTES.

    Django has no size limit for file parts, so without this a multi-gigabyte upload would be
    written to a temporary file before any form could refuse it. The skipped file is missing
    from request.FILES; its field name is kept in request.oversized_uploads for the message.
    """

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_HARD_LIMIT_BYTES:
            if self.request is not None:
                skipped = getattr(self.request, "oversized_uploads", [])
                self.request.oversized_uploads = [*skipped, self.field_name]
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None


def report_oversized_uploads(request, form) -> None:
    """Put a clear error on the fields whose files SizeCappedUploadHandler skipped."""
    for field_name in getattr(request, "oversized_uploads", []):
        if field_name in form.fields:
            form.errors[field_name] = form.error_class(
                [
                    _("The file is larger than %(limit)s and was not accepted.")
                    % {"limit": filesizeformat(settings.UPLOAD_HARD_LIMIT_BYTES)}
                ]
            )
