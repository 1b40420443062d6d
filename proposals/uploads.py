"""Checks on uploaded files: by their content and size, never by the name the uploader gave."""

import os
import re
import unicodedata

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

PDF = "application/pdf"


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


def check_upload(uploaded: UploadedFile, *, allowed: dict[str, str], max_bytes: int) -> None:
    """Refuse a file that is too large or whose content is not one of `allowed`.

    `allowed` maps a MIME type to the name people know the format by ("PDF").
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
