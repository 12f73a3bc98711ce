"""
Attachment bytes over HTTP: the upload of a two-phase attachment, image
previews and file downloads.

Each accepts a signed link made for that attachment and purpose (see
``attachments.py``). Without one, the caller must be the owner, signed in
(session with CSRF for uploads, or a bearer token), or a staff member with
the permission to view attachments (previews and downloads only). Anything
else is the same 404 as a missing attachment.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import services
from .attachments import Purpose, verify, with_fresh_links
from .authentication import authenticate
from .context import RequestContext
from .http_errors import error_response
from .models import Attachment
from .request_errors import ChatKitRequestError
from .serialization import attachment_from_data
from .uploads import SNIFF_BYTES, check_content, kind_of, make_preview

logger = logging.getLogger(__name__)


def _not_found() -> JsonResponse:
    return error_response(404, "not_found", "No such attachment.")


@sync_to_async
def _attachment_for(
    request: HttpRequest, attachment_id: str, purpose: Purpose
) -> Attachment | None:
    """The attachment, if the signed link or the signed-in user may see it."""
    attachment = Attachment.objects.select_related("owner").filter(pk=attachment_id).first()
    if attachment is None:
        return None
    grant = verify(request.GET.get("token", ""), purpose, attachment_id)
    if grant is not None:
        return attachment if grant.user_id == attachment.owner_id else None
    user = request.user
    if user.is_authenticated and user.is_active:
        if user.pk == attachment.owner_id:
            return attachment
        if purpose != "upload" and user.is_staff and user.has_perm("chatkit_app.view_attachment"):
            return attachment
    return None


@csrf_exempt  # a signed link or authenticate() (which checks CSRF for sessions) decides
@never_cache
async def attachment_upload(request: HttpRequest, attachment_id: str) -> HttpResponse:
    if request.method != "POST":
        return error_response(405, "method_not_allowed", "Use POST.", Allow="POST")
    attachment = await _attachment_for_upload(request, attachment_id)
    if isinstance(attachment, HttpResponse):
        return attachment
    try:
        stored = await sync_to_async(_store_upload)(request, attachment)
    except ChatKitRequestError as exc:
        # Nothing half-made stays behind: the attachment goes with its bytes.
        await sync_to_async(services.attachment_delete)(
            owner=attachment.owner, attachment_id=attachment.pk
        )
        return error_response(exc.status, exc.code, exc.message)
    except services.AttachmentAlreadyUploaded:
        return error_response(409, "already_uploaded", "This attachment was uploaded already.")
    context = RequestContext(user=attachment.owner, request=request)
    model = with_fresh_links(attachment_from_data(stored.data), context)
    body = model.model_dump_json(
        by_alias=True, exclude_none=True, context={"exclude_metadata": True}
    )
    return HttpResponse(body, content_type="application/json")


async def _attachment_for_upload(
    request: HttpRequest, attachment_id: str
) -> Attachment | HttpResponse:
    if "token" not in request.GET:
        # No signed link: the owner must be signed in (session with CSRF, or a token).
        caller = await authenticate(request)
        if isinstance(caller, JsonResponse):
            return caller
        request.user = caller.user
    attachment = await _attachment_for(request, attachment_id, "upload")
    return attachment if attachment is not None else _not_found()


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
    if "token" not in request.GET and "Authorization" in request.headers:
        caller = await authenticate(request)
        if isinstance(caller, JsonResponse):
            return caller
        request.user = caller.user
    attachment = await _attachment_for(request, attachment_id, purpose)
    field = None
    if attachment is not None:
        field = attachment.preview if purpose == "preview" else attachment.file
    if not field:
        return _not_found()
    handle = await sync_to_async(field.open)("rb")
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
