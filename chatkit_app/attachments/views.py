"""
Attachment bytes over HTTP: the upload of a two-phase attachment, image
previews and file downloads.

Who may call is decided by ``authentication.authenticate``: a signed link
made for that attachment and purpose (``links.py``), or else the owner,
signed in (session with CSRF for uploads, or a bearer token), or a staff
member with the permission to view attachments (previews and downloads
only). Anything else is the same 404 as a missing attachment.

An upload is good once: only an attachment nothing was uploaded to yet takes
bytes. A second upload is 409 and changes nothing, so a link that is still
valid can never replace or remove a file a message already shows. A
malformed request (no file, a broken multipart body) is a 400 that changes
nothing either; a file that breaks a rule removes the still empty
attachment, as its upload failed for good.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.log import log_response
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from .. import services
from ..authentication import Caller, authenticate
from ..context import RequestContext
from ..http_errors import error_response
from ..models import Attachment
from ..request_errors import ChatKitRequestError
from ..serialization import attachment_from_data
from .links import Purpose, verify, with_fresh_links
from .uploads import SNIFF_BYTES, UploadRejected, check_content, kind_of, make_preview

logger = logging.getLogger(__name__)

# What Django raises when it cannot parse a request body as multipart.
MALFORMED_BODY = (MultiPartParserError, TooManyFieldsSent, TooManyFilesSent, RequestDataTooBig)


def _not_found() -> JsonResponse:
    return error_response(404, "not_found", "No such attachment.")


def _already_uploaded() -> JsonResponse:
    return error_response(409, "already_uploaded", "This attachment was uploaded already.")


def _link_verifier(purpose: Purpose, attachment_id: str):
    def user_id(token: str) -> int | None:
        grant = verify(token, purpose, attachment_id)
        return grant.user_id if grant is not None else None

    return user_id


@sync_to_async
def _attachment_for(caller: Caller, attachment_id: str, purpose: Purpose) -> Attachment | None:
    """The attachment, if this caller may reach it for ``purpose``."""
    attachment = Attachment.objects.select_related("owner").filter(pk=attachment_id).first()
    if attachment is None:
        return None
    user = caller.user
    if user.pk == attachment.owner_id:
        return attachment
    if (
        caller.method != "link"
        and purpose != "upload"
        and user.is_staff
        and user.has_perm("chatkit_app.view_attachment")
    ):
        return attachment
    return None


@csrf_exempt  # authenticate() checks CSRF for session callers
@never_cache
async def attachment_upload(request: HttpRequest, attachment_id: str) -> HttpResponse:
    if request.method != "POST":
        return error_response(405, "method_not_allowed", "Use POST.", Allow="POST")
    try:
        caller = await authenticate(request, link=_link_verifier("upload", attachment_id))
        if isinstance(caller, JsonResponse):
            return caller
        attachment = await _attachment_for(caller, attachment_id, "upload")
        if attachment is None:
            return _not_found()
        if attachment.uploaded_at is not None or attachment.conversation_id is not None:
            # Decided before the body is looked at: nothing of it is used.
            return _already_uploaded()
        stored = await sync_to_async(_store_upload)(request, attachment)
    except MALFORMED_BODY as exc:
        response = error_response(
            413 if isinstance(exc, RequestDataTooBig) else 400,
            "invalid_multipart",
            "The body is not valid multipart/form-data; send the file in a field named 'file'.",
        )
        log_response(
            "Malformed upload body for attachment %s: %s",
            attachment_id,
            exc,
            response=response,
            request=request,
            logger=logger,
        )
        return response
    except UploadRejected as exc:
        # The upload failed for good: the attachment, still empty, goes
        # (unless a concurrent upload filled it meanwhile).
        await sync_to_async(services.attachment_discard_pending)(attachment_id=attachment_id)
        return error_response(exc.status, exc.code, exc.message)
    except ChatKitRequestError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except services.AttachmentAlreadyUploaded:
        return _already_uploaded()
    context = RequestContext(user=attachment.owner, request=request)
    model = with_fresh_links(attachment_from_data(stored.data), context)
    body = model.model_dump_json(
        by_alias=True, exclude_none=True, context={"exclude_metadata": True}
    )
    return HttpResponse(body, content_type="application/json")


def _store_upload(request: HttpRequest, attachment: Attachment) -> Attachment:
    upload = request.FILES.get("file")
    if upload is None:
        raise ChatKitRequestError(
            "Send the file as multipart/form-data in a field named 'file'.", code="missing_file"
        )
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    mime_type = check_content(data_size=upload.size, head=head, declared=attachment.mime_type)
    preview = None
    if kind_of(mime_type) == "image":
        preview = make_preview(upload.read())
        upload.seek(0)
    return services.attachment_store_upload(
        attachment=attachment, content=upload, mime_type=mime_type, preview=preview
    )


@never_cache
async def attachment_preview(request: HttpRequest, attachment_id: str) -> HttpResponse:
    return await _serve(request, attachment_id, "preview")


@never_cache
async def attachment_file(request: HttpRequest, attachment_id: str) -> HttpResponse:
    return await _serve(request, attachment_id, "file")


async def _serve(request: HttpRequest, attachment_id: str, purpose: Purpose) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "method_not_allowed", "Use GET.", Allow="GET, HEAD")
    caller = await authenticate(
        request, link=_link_verifier(purpose, attachment_id), required=False
    )
    if isinstance(caller, JsonResponse):
        return caller
    attachment = await _attachment_for(caller, attachment_id, purpose) if caller else None
    field = None
    if attachment is not None:
        field = attachment.preview if purpose == "preview" else attachment.file
    if not field:
        return _not_found()
    try:
        handle = await sync_to_async(field.open)("rb")
    except FileNotFoundError:
        # The row is there, its bytes are not (storage emptied or restored
        # without them): the client's answer is that the file is gone, the
        # operator's a warning naming what is missing.
        response = error_response(410, "file_gone", "This attachment's file is no longer stored.")
        log_response(
            "Attachment %s: its %s (%s) is missing from storage",
            attachment.pk,
            purpose,
            field.name,
            response=response,
            request=request,
            logger=logger,
        )
        return response
    response = FileResponse(
        handle,
        content_type="image/webp" if purpose == "preview" else attachment.mime_type,
        as_attachment=purpose == "file" and not attachment.mime_type.startswith("image/"),
        filename=attachment.name,
    )
    # Served bytes are the user's: never sniffed into HTML, never cached by proxies.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=300"
    return response
