"""
Django's own middlewares, with their hooks on the event loop under ASGI.

Django's ``MiddlewareMixin.__acall__`` runs every ``process_request`` and
``process_response`` through ``sync_to_async(thread_sensitive=True)``, and
the handler wraps a sync ``process_view`` the same way: with Security,
Session, Common, Csrf, Authentication, Messages and XFrameOptions that is
about a dozen hops to a thread on every request, ``POST /chatkit`` and its
streams included, each waiting for the request's one sync thread.

Almost always those hooks do no I/O: they set headers, compare a CSRF
cookie with a header, or put lazy objects on the request (the session, the
user and the message storage load only when a view touches them). The
subclasses here run them inline and go to a thread only when a hook is
about to do real I/O:

- the session is saved (it was modified, or ``SESSION_SAVE_EVERY_REQUEST``);
- messages were added or shown and storing them would load the session;
- the CSRF secret lives in the session (``CSRF_USE_SESSIONS``), a refusal
  renders the failure page, or a multipart form has to be parsed (uploaded
  files can spill to disk). A urlencoded form is parsed inline: the ASGI
  handler has already buffered the body, within ``DATA_UPLOAD_MAX_MEMORY_SIZE``.

Everything else is Django's code, unchanged, so behaviour is identical; in
sync mode (WSGI, the test ``Client``) these are Django's classes as they are.
corsheaders' ``CorsMiddleware`` (4.x) and django-axes' are already
async-native, so they are used as shipped.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthentication
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessage
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.messages.storage.session import SessionStorage
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSession
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware as DjangoXFrameOptions
from django.middleware.common import CommonMiddleware as DjangoCommon
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfView
from django.middleware.security import SecurityMiddleware as DjangoSecurity


class InlineHooksMixin:
    """``MiddlewareMixin.__acall__`` with the hooks inline unless a subclass
    says that this call of a hook does I/O."""

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return False

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            if self.request_needs_thread(request):
                response = await sync_to_async(process_request, thread_sensitive=True)(request)
            else:
                response = process_request(request)
        response = response or await self.get_response(request)  # type: ignore[attr-defined]
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self.response_needs_thread(request, response):
                response = await sync_to_async(process_response, thread_sensitive=True)(
                    request, response
                )
            else:
                response = process_response(request, response)
        return response


class SecurityMiddleware(InlineHooksMixin, DjangoSecurity):
    """HTTPS redirect and security headers: string work only."""


class CommonMiddleware(InlineHooksMixin, DjangoCommon):
    """User-agent check, APPEND_SLASH (URL resolving) and Content-Length."""


class XFrameOptionsMiddleware(InlineHooksMixin, DjangoXFrameOptions):
    """One header."""


class AuthenticationMiddleware(InlineHooksMixin, DjangoAuthentication):
    """Puts the lazy ``request.user`` / ``request.auser``; the view loads them."""


class SessionMiddleware(InlineHooksMixin, DjangoSession):
    """The session store is lazy; a thread only to save it."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        if session is None:
            return False
        # The same test as Django's process_response before it saves (reading
        # the expiry and saving both load and write the session); is_empty()
        # and the flags are plain attributes.
        return (session.modified or settings.SESSION_SAVE_EVERY_REQUEST) and not session.is_empty()


class MessageMiddleware(InlineHooksMixin, DjangoMessage):
    """The storage is lazy and Django's storages keep messages in a cookie or
    in the session; a thread only when storing them would load the session."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        if storage is None or not (storage.used or storage.added_new):
            return False  # update() stores nothing
        if isinstance(storage, CookieStorage):
            return False
        if not isinstance(storage, FallbackStorage | SessionStorage):
            return True  # another storage: it may do anything
        # Writing to a session already loaded (signed-in views load it for the
        # user) is a dict update; SessionMiddleware saves it, in a thread.
        # ``_session_cache`` is how SessionBase marks a loaded session.
        session = getattr(request, "session", None)
        return session is None or not hasattr(session, "_session_cache")


class _DeferredRejection(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfViewMiddleware(InlineHooksMixin, DjangoCsrfView):
    """The CSRF check against the cookie, inline; the failure page, a
    session-held secret and multipart parsing in a thread."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # The handler adapts whatever ``process_view`` is at load time:
            # a coroutine function is left alone, a sync one gets a thread.
            self.process_view = self._aprocess_view  # type: ignore[method-assign]

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return settings.CSRF_USE_SESSIONS and bool(request.META.get("CSRF_COOKIE_NEEDS_UPDATE"))

    def _reject(self, request: HttpRequest, reason: str) -> Any:
        if getattr(request, "_csrf_defer_reject", False):
            raise _DeferredRejection(reason)
        return super()._reject(request, reason)

    async def _aprocess_view(
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> HttpResponseBase | None:
        check = DjangoCsrfView.process_view
        if settings.CSRF_USE_SESSIONS or request.content_type == "multipart/form-data":
            return await sync_to_async(check, thread_sensitive=True)(
                self, request, callback, callback_args, callback_kwargs
            )
        request._csrf_defer_reject = True  # type: ignore[attr-defined]
        try:
            return check(self, request, callback, callback_args, callback_kwargs)
        except _DeferredRejection as rejection:
            reason = rejection.reason
        finally:
            del request._csrf_defer_reject  # type: ignore[attr-defined]
        # The failure view renders a template (CSRF_FAILURE_VIEW may be any view).
        return await sync_to_async(self._reject, thread_sensitive=True)(request, reason)


#: Each class here and the Django class it stands for. Django's deploy checks
#: look for Django's dotted paths in ``MIDDLEWARE``; ``checks.py`` runs them
#: with these put back (``check_deploy_with_async_middleware``).
DJANGO_EQUIVALENTS = {
    f"{__name__}.{ours.__name__}": f"{django.__module__}.{django.__name__}"
    for ours, django in (
        (SecurityMiddleware, DjangoSecurity),
        (CommonMiddleware, DjangoCommon),
        (XFrameOptionsMiddleware, DjangoXFrameOptions),
        (AuthenticationMiddleware, DjangoAuthentication),
        (SessionMiddleware, DjangoSession),
        (MessageMiddleware, DjangoMessage),
        (CsrfViewMiddleware, DjangoCsrfView),
    )
}
