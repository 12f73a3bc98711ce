"""
Checking the bytes of an uploaded attachment, and making its preview.

The type a client declares is a claim; the file's first bytes are the truth.
Images and PDFs are recognised by their signatures (``filetype``), text
formats by decoding as UTF-8 without NUL bytes. A file whose content does
not match an allowed type is refused before anything is stored.
"""

from __future__ import annotations

import fnmatch
import io

import filetype
from django.core.files.base import ContentFile
from PIL import Image, UnidentifiedImageError

from ..conf import chatkit_settings
from ..request_errors import ChatKitRequestError

TEXT_TYPES = {"text/plain", "text/markdown", "text/csv", "application/json"}
# Enough of the file to recognise its type.
SNIFF_BYTES = 8192


class UploadRejected(ChatKitRequestError):
    """The file breaks a limit; nothing of it is kept."""


def type_allowed(mime_type: str) -> bool:
    return any(
        fnmatch.fnmatchcase(mime_type.lower(), pattern.lower())
        for pattern in chatkit_settings.ATTACHMENT_ALLOWED_TYPES
    )


def kind_of(mime_type: str) -> str:
    """The SDK's attachment type for a MIME type: ``image`` or ``file``."""
    return "image" if mime_type.lower().startswith("image/") else "file"


def check_declared(*, size: int, mime_type: str) -> None:
    """Refuse, at ``attachments.create``, what the client says it will send."""
    limit = chatkit_settings.ATTACHMENT_MAX_BYTES
    if size > limit:
        raise UploadRejected(
            f"The file is too large ({size} bytes; the limit is {limit}).",
            status=413,
            code="attachment_too_large",
        )
    if size < 0:
        raise UploadRejected("The file size cannot be negative.", code="invalid_attachment")
    if not type_allowed(mime_type.split(";")[0].strip()):
        raise UploadRejected(
            f"Files of type {mime_type!r} cannot be attached.",
            status=415,
            code="attachment_type_not_allowed",
        )


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed bytes is fine.
        return exc.start >= len(head) - 3
    return True


def sniff_type(head: bytes, declared: str) -> str | None:
    """The file's real MIME type, from its content; None when unknown."""
    guess = filetype.guess(head)
    if guess is not None:
        return guess.mime
    declared = declared.split(";")[0].strip().lower()
    if (declared in TEXT_TYPES or declared.startswith("text/")) and looks_like_text(head):
        return declared
    return None


def check_content(*, data_size: int, head: bytes, declared: str) -> str:
    """Refuse a file over the size limit or whose content is not an allowed
    type of the declared kind; return its real MIME type."""
    limit = chatkit_settings.ATTACHMENT_MAX_BYTES
    if data_size > limit:
        raise UploadRejected(
            f"The file is too large ({data_size} bytes; the limit is {limit}).",
            status=413,
            code="attachment_too_large",
        )
    if data_size == 0:
        raise UploadRejected("The file is empty.", code="empty_attachment")
    actual = sniff_type(head, declared)
    if actual is None or not type_allowed(actual):
        raise UploadRejected(
            f"The file's content is not a type that can be attached (declared {declared!r}).",
            status=415,
            code="attachment_type_not_allowed",
        )
    if kind_of(actual) != kind_of(declared):
        raise UploadRejected(
            f"The file's content ({actual}) does not match its declared type ({declared}).",
            status=415,
            code="attachment_type_mismatch",
        )
    return actual


def make_preview(data: bytes) -> ContentFile:
    """A thumbnail (longest side ATTACHMENT_PREVIEW_SIZE) as WebP."""
    size = chatkit_settings.ATTACHMENT_PREVIEW_SIZE
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((size, size))
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA")
            out = io.BytesIO()
            image.save(out, format="WEBP", quality=80)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise UploadRejected(
            "The image could not be read.", status=415, code="invalid_image"
        ) from exc
    return ContentFile(out.getvalue())
