"""Async client for Zalo's OAuth v4, OA Open API and ZNS (see docs in ``zalo-api.md``)."""

from __future__ import annotations

import logging
import mimetypes
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import httpx
import orjson
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from zalo.errors import (
    ZaloAuthError,
    ZaloError,
    ZaloRateLimited,
    ZaloRequestError,
    ZaloTokenError,
    ZaloTransientError,
    error_for_code,
)
from zalo.limiter import RateLimiter
from zalo.types import (
    Attachment,
    ChatMessage,
    FileToken,
    FollowerPage,
    OaInfo,
    SentMessage,
    TemplateDetail,
    TemplatePage,
    TemplateSummary,
    TokenPair,
    UserDetail,
    ZnsMessageStatus,
    ZnsQuota,
    ZnsSent,
)

_log = logging.getLogger("zalo.client")

Host = Literal["oauth", "openapi", "zns"]
M = TypeVar("M", bound=BaseModel)

_TOKEN_PATH = "/v4/oa/access_token"
# Failures where the request provably never reached Zalo, so even a send may be repeated.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class _Answer:
    endpoint: str
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body.get("data")

    def parse(self, model: type[M]) -> M:
        return self._validate(model, self.data)

    def parse_list(self, model: type[M]) -> list[M]:
        return [self._validate(model, row) for row in self.data or []]

    def _validate(self, model: type[M], value: Any) -> M:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            raise ZaloRequestError(0, f"unexpected answer: {exc}", self.endpoint) from exc


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _header_int(response: httpx.Response, name: str) -> int | None:
    return _as_int(response.headers.get(name))


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


def _unwrap(endpoint: str, response: httpx.Response) -> _Answer:
    """Turn one OA/ZNS answer into its envelope, or raise the typed error it stands for.

    Zalo reports most errors with HTTP 200 and a non-zero ``error``, so the body decides;
    the status only matters when the body is not an envelope.
    """
    status = response.status_code
    if status == 429:
        raise ZaloRateLimited(0, "HTTP 429", endpoint, http_status=status)
    if status >= 500:
        raise ZaloTransientError(0, f"HTTP {status}", endpoint, http_status=status)
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        if status == 401:
            raise ZaloAuthError(0, "HTTP 401", endpoint, http_status=status)
        if status >= 400:
            raise ZaloRequestError(0, f"HTTP {status}", endpoint, http_status=status)
        raise ZaloTransientError(0, "answer is not a Zalo envelope", endpoint, http_status=status)
    code = _as_int(body.get("error", 0))
    message = str(body.get("message") or "")
    if code is None:
        raise ZaloRequestError(0, f"unreadable error {body.get('error')!r}", endpoint)
    if code != 0:
        raise error_for_code(code, message, endpoint, http_status=status)
    if status == 401:
        raise ZaloAuthError(0, "HTTP 401", endpoint, http_status=status)
    if status >= 400:
        raise ZaloRequestError(0, f"HTTP {status}", endpoint, http_status=status)
    return _Answer(endpoint, body)


def _token_pair(endpoint: str, response: httpx.Response) -> TokenPair:
    """Read the token endpoint's answer, which has no envelope and fails in many shapes."""
    status = response.status_code
    if status >= 500:
        raise ZaloTokenError(0, f"HTTP {status}", endpoint, http_status=status, transient=True)
    if not response.content.strip():
        raise ZaloTokenError(0, "empty answer", endpoint, http_status=status)
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise ZaloTokenError(0, "answer is not JSON", endpoint, http_status=status)
    if not isinstance(body, dict):
        raise ZaloTokenError(0, "answer is not a JSON object", endpoint, http_status=status)
    code = _as_int(body.get("error", 0))
    if code != 0:
        reason = " / ".join(
            str(body[key])
            for key in ("error_name", "error_reason", "error_description", "message")
            if body.get(key)
        )
        raise ZaloTokenError(
            code or 0, reason or "token request refused", endpoint, http_status=status
        )
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise ZaloTokenError(0, "no access_token in the answer", endpoint, http_status=status)
    if not body.get("refresh_token"):
        body["refresh_token"] = None
    try:
        return TokenPair.model_validate(body)
    except ValidationError:
        raise ZaloTokenError(0, "malformed token answer", endpoint, http_status=status)


def _retryable(idempotent: bool) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if isinstance(exc, ZaloRateLimited):
            return True
        if not isinstance(exc, ZaloTransientError):
            return False
        if exc.http_status is not None and exc.http_status >= 500:
            return True
        # -100 and answers lost after sending may mean Zalo acted: only safe to repeat reads.
        if exc.code != 0:
            return False
        return idempotent or isinstance(exc.__cause__, _NEVER_SENT)

    return check


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, ZaloError):
        _log.warning(
            "zalo %s attempt %d failed (code %s, http %s); retrying",
            exc.endpoint,
            state.attempt_number,
            exc.code,
            exc.http_status,
        )


class ZaloClient:
    """One async client for the three Zalo hosts.

    Every OA/ZNS method takes the OA ``token`` first and the keyword ``app_id`` (the Zalo app
    whose rate limit the call counts against; calls without one share a bucket). OA methods
    also take ``api_url`` to replace the Open API base URL for that call. Failures raise
    :mod:`zalo.errors`; transient ones (network, HTTP 5xx, -32) are retried a few times first,
    except that a send is repeated only when Zalo surely did not get it. ``calls`` and
    ``errors`` count HTTP requests per endpoint (``"POST /v3.0/oa/message/cs"``).

    ``retry_attempts`` bounds the tries per call and ``retry_wait_seconds`` scales the jittered
    exponential backoff between them; ``rate_limit_window_seconds`` is the window that
    ``rate_limit_per_minute`` counts over (60 s, shortened only by tests).
    """

    def __init__(
        self,
        oauth_base_url: str,
        openapi_base_url: str,
        zns_base_url: str,
        timeout: float = 10.0,
        rate_limit_per_minute: int = 3600,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        retry_attempts: int = 3,
        retry_wait_seconds: float = 0.5,
        rate_limit_window_seconds: float = 60.0,
    ) -> None:
        def http(base_url: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout), transport=transport
            )

        self._oauth_base_url = oauth_base_url.rstrip("/")
        self._http: dict[Host, httpx.AsyncClient] = {
            "oauth": http(oauth_base_url),
            "openapi": http(openapi_base_url),
            "zns": http(zns_base_url),
        }
        self._limiter = RateLimiter(rate_limit_per_minute, rate_limit_window_seconds)
        self._attempts = max(1, retry_attempts)
        self._retry_wait = retry_wait_seconds
        self.calls: Counter[str] = Counter()
        # (endpoint, Zalo error number; 0 for network failures)
        self.errors: Counter[tuple[str, int]] = Counter()

    async def close(self) -> None:
        for http in self._http.values():
            await http.aclose()

    async def __aenter__(self) -> ZaloClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _call(
        self,
        host: Host,
        method: str,
        path: str,
        token: str,
        *,
        app_id: str | None,
        api_url: str | None = None,
        query: dict[str, Any] | None = None,
        json: Any = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> _Answer:
        endpoint = f"{method} {path}"
        url = path if api_url is None else api_url.rstrip("/") + path
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=self._retry_wait, max=self._retry_wait * 8),
            retry=retry_if_exception(_retryable(idempotent=method == "GET")),
            before_sleep=_log_retry,
            reraise=True,
        )

        async def attempt() -> _Answer:
            key = f"{host}:{app_id or ''}"
            await self._limiter.acquire(key)
            self.calls[endpoint] += 1
            try:
                response = await self._http[host].request(
                    method,
                    url,
                    headers={"access_token": token},
                    params=query,
                    json=json,
                    files=files,
                )
            except httpx.TransportError as exc:
                self.errors[endpoint, 0] += 1
                raise ZaloTransientError(0, type(exc).__name__, endpoint) from exc
            self._limiter.observe(
                key,
                _header_int(response, "X-RateLimit-Limit"),
                _header_int(response, "X-RateLimit-Remain"),
            )
            try:
                return _unwrap(endpoint, response)
            except ZaloError as exc:
                self.errors[endpoint, exc.zalo_error] += 1
                raise

        return await retrying(attempt)

    async def _oa_get(
        self,
        path: str,
        token: str,
        data: dict[str, Any] | None,
        app_id: str | None,
        api_url: str | None,
    ) -> _Answer:
        query = None if data is None else {"data": _compact(data)}
        return await self._call(
            "openapi", "GET", path, token, app_id=app_id, api_url=api_url, query=query
        )

    async def _oa_post(
        self, path: str, token: str, body: Any, app_id: str | None, api_url: str | None
    ) -> _Answer:
        return await self._call(
            "openapi", "POST", path, token, app_id=app_id, api_url=api_url, json=body
        )

    # OAuth v4

    def permission_url(
        self, app_id: str, redirect_uri: str, code_challenge: str, state: str
    ) -> str:
        """The OA consent page to send the admin's browser to."""
        query = urlencode(
            {
                "app_id": app_id,
                "redirect_uri": redirect_uri,
                "code_challenge": code_challenge,
                "state": state,
            }
        )
        return f"{self._oauth_base_url}/v4/oa/permission?{query}"

    async def _token(self, app_secret: str, form: dict[str, str]) -> TokenPair:
        # Never retried here: the code or refresh token in the form is single use, and after a
        # lost answer only the caller (holding its refresh lock) can decide what to try next.
        endpoint = f"POST {_TOKEN_PATH}"
        self.calls[endpoint] += 1
        try:
            response = await self._http["oauth"].post(
                _TOKEN_PATH, data=form, headers={"secret_key": app_secret}
            )
            return _token_pair(endpoint, response)
        except httpx.TransportError as exc:
            self.errors[endpoint, 0] += 1
            raise ZaloTokenError(0, type(exc).__name__, endpoint, transient=True) from exc
        except ZaloTokenError as exc:
            self.errors[endpoint, exc.zalo_error] += 1
            raise

    async def exchange_code(
        self, app_id: str, app_secret: str, code: str, code_verifier: str
    ) -> TokenPair:
        """Trade the callback's authorization code (with its PKCE verifier) for tokens."""
        form = {
            "code": code,
            "app_id": app_id,
            "grant_type": "authorization_code",
            "code_verifier": code_verifier,
        }
        return await self._token(app_secret, form)

    async def refresh_token(self, app_id: str, app_secret: str, refresh_token: str) -> TokenPair:
        """Spend a (single-use) refresh token for a new pair."""
        form = {"refresh_token": refresh_token, "app_id": app_id, "grant_type": "refresh_token"}
        return await self._token(app_secret, form)

    # OA information and followers

    async def get_oa(
        self, token: str, *, app_id: str | None = None, api_url: str | None = None
    ) -> OaInfo:
        answer = await self._oa_get("/v2.0/oa/getoa", token, None, app_id, api_url)
        return answer.parse(OaInfo)

    async def list_followers(
        self,
        token: str,
        offset: int = 0,
        count: int = 50,
        *,
        tag_name: str | None = None,
        last_interaction_period: str | None = None,
        is_follower: bool | None = None,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> FollowerPage:
        """One page of user ids (Zalo allows ``count`` up to 50 and ``offset`` up to 9951)."""
        data: dict[str, Any] = {"offset": offset, "count": count}
        filters = {
            "tag_name": tag_name,
            "last_interaction_period": last_interaction_period,
            "is_follower": is_follower,
        }
        data.update({name: value for name, value in filters.items() if value is not None})
        answer = await self._oa_get("/v3.0/oa/user/getlist", token, data, app_id, api_url)
        return answer.parse(FollowerPage)

    async def user_detail(
        self, token: str, user_id: str, *, app_id: str | None = None, api_url: str | None = None
    ) -> UserDetail:
        data = {"user_id": user_id}
        answer = await self._oa_get("/v3.0/oa/user/detail", token, data, app_id, api_url)
        return answer.parse(UserDetail)

    # Conversations

    async def list_recent_chat(
        self,
        token: str,
        offset: int = 0,
        count: int = 10,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> list[ChatMessage]:
        """Latest messages across conversations, newest first (``count`` up to 10)."""
        data = {"offset": offset, "count": count}
        answer = await self._oa_get("/v2.0/oa/listrecentchat", token, data, app_id, api_url)
        return answer.parse_list(ChatMessage)

    async def conversation(
        self,
        token: str,
        user_id: str,
        offset: int = 0,
        count: int = 10,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> list[ChatMessage]:
        """Messages with one user, newest first (``count`` up to 10)."""
        data = {"user_id": user_id, "offset": offset, "count": count}
        answer = await self._oa_get("/v2.0/oa/conversation", token, data, app_id, api_url)
        return answer.parse_list(ChatMessage)

    # Sending (consultation messages and UID templates)

    async def _send_cs(
        self,
        token: str,
        user_id: str,
        message: dict[str, Any],
        app_id: str | None,
        api_url: str | None,
    ) -> SentMessage:
        body = {"recipient": {"user_id": user_id}, "message": message}
        answer = await self._oa_post("/v3.0/oa/message/cs", token, body, app_id, api_url)
        return answer.parse(SentMessage)

    async def send_text(
        self,
        token: str,
        user_id: str,
        text: str,
        quote_message_id: str | None = None,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> SentMessage:
        message: dict[str, Any] = {"text": text}
        if quote_message_id is not None:
            message["quote_message_id"] = quote_message_id
        return await self._send_cs(token, user_id, message, app_id, api_url)

    async def send_image(
        self,
        token: str,
        user_id: str,
        url: str | None = None,
        attachment_id: str | None = None,
        text: str | None = None,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> SentMessage:
        """Send an image by public ``url`` or by an uploaded ``attachment_id`` (exactly one)."""
        if (url is None) == (attachment_id is None):
            raise ValueError("give exactly one of url and attachment_id")
        element: dict[str, Any] = {"media_type": "image"}
        if url is not None:
            element["url"] = url
        else:
            element["attachment_id"] = attachment_id
        payload = {"template_type": "media", "elements": [element]}
        message: dict[str, Any] = {"attachment": {"type": "template", "payload": payload}}
        if text is not None:
            message["text"] = text
        return await self._send_cs(token, user_id, message, app_id, api_url)

    async def send_file(
        self,
        token: str,
        user_id: str,
        file_token: str,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> SentMessage:
        message = {"attachment": {"type": "file", "payload": {"token": file_token}}}
        return await self._send_cs(token, user_id, message, app_id, api_url)

    async def send_request_user_info(
        self,
        token: str,
        user_id: str,
        title: str,
        subtitle: str,
        image_url: str,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> SentMessage:
        """Ask the user to share their details; the answer comes as ``user_submit_info``."""
        element = {"title": title, "subtitle": subtitle, "image_url": image_url}
        payload = {"template_type": "request_user_info", "elements": [element]}
        message = {"attachment": {"type": "template", "payload": payload}}
        return await self._send_cs(token, user_id, message, app_id, api_url)

    async def send_uid_template(
        self,
        token: str,
        user_id: str,
        template_id: str,
        template_data: dict[str, Any],
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> SentMessage:
        """Send a ZBS template to a Zalo user id (the successor of transaction messages)."""
        body = {"user_id": user_id, "template_id": template_id, "template_data": template_data}
        answer = await self._oa_post("/v3.0/oa/message/template", token, body, app_id, api_url)
        return answer.parse(SentMessage)

    # Uploads

    async def _upload(
        self,
        kind: str,
        token: str,
        filename: str,
        content: bytes,
        app_id: str | None,
        api_url: str | None,
    ) -> _Answer:
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return await self._call(
            "openapi",
            "POST",
            f"/v2.0/oa/upload/{kind}",
            token,
            app_id=app_id,
            api_url=api_url,
            files={"file": (filename, content, mime)},
        )

    async def upload_image(
        self,
        token: str,
        filename: str,
        content: bytes,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> Attachment:
        """Upload a jpg/png of at most 1 MB."""
        answer = await self._upload("image", token, filename, content, app_id, api_url)
        return answer.parse(Attachment)

    async def upload_gif(
        self,
        token: str,
        filename: str,
        content: bytes,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> Attachment:
        answer = await self._upload("gif", token, filename, content, app_id, api_url)
        return answer.parse(Attachment)

    async def upload_file(
        self,
        token: str,
        filename: str,
        content: bytes,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> FileToken:
        """Upload a pdf/doc/docx of at most 5 MB."""
        answer = await self._upload("file", token, filename, content, app_id, api_url)
        return answer.parse(FileToken)

    # Tags

    async def get_tags(
        self, token: str, *, app_id: str | None = None, api_url: str | None = None
    ) -> list[str]:
        answer = await self._oa_get("/v2.0/oa/tag/gettagsofoa", token, None, app_id, api_url)
        return [str(tag) for tag in answer.data or []]

    async def tag_follower(
        self,
        token: str,
        user_id: str,
        tag_name: str,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> None:
        """Tag a follower, creating the tag if the OA does not have it yet."""
        body = {"user_id": user_id, "tag_name": tag_name}
        await self._oa_post("/v2.0/oa/tag/tagfollower", token, body, app_id, api_url)

    async def untag_follower(
        self,
        token: str,
        user_id: str,
        tag_name: str,
        *,
        app_id: str | None = None,
        api_url: str | None = None,
    ) -> None:
        body = {"user_id": user_id, "tag_name": tag_name}
        await self._oa_post("/v2.0/oa/tag/rmfollowerfromtag", token, body, app_id, api_url)

    async def remove_tag(
        self, token: str, tag_name: str, *, app_id: str | None = None, api_url: str | None = None
    ) -> None:
        await self._oa_post("/v2.0/oa/tag/rmtag", token, {"tag_name": tag_name}, app_id, api_url)

    # ZNS

    async def _zns(
        self,
        method: str,
        path: str,
        token: str,
        app_id: str | None,
        *,
        query: dict[str, Any] | None = None,
        json: Any = None,
    ) -> _Answer:
        return await self._call("zns", method, path, token, app_id=app_id, query=query, json=json)

    async def zns_templates(
        self,
        token: str,
        offset: int = 0,
        limit: int = 100,
        status: int | None = None,
        *,
        app_id: str | None = None,
    ) -> TemplatePage:
        """One page of the OA's ZNS templates (``limit`` up to 100; ``status`` 1 = enabled)."""
        query: dict[str, Any] = {"offset": offset, "limit": limit}
        if status is not None:
            query["status"] = status
        answer = await self._zns("GET", "/template/all", token, app_id, query=query)
        templates = answer.parse_list(TemplateSummary)
        total = _as_int((answer.body.get("metadata") or {}).get("total"))
        return TemplatePage(templates=templates, total=len(templates) if total is None else total)

    async def zns_template_info(
        self, token: str, template_id: str, *, app_id: str | None = None
    ) -> TemplateDetail:
        query = {"template_id": template_id}
        answer = await self._zns("GET", "/template/info/v2", token, app_id, query=query)
        return answer.parse(TemplateDetail)

    async def send_zns(
        self,
        token: str,
        phone: str,
        template_id: str,
        template_data: dict[str, Any],
        tracking_id: str,
        development: bool = False,
        *,
        app_id: str | None = None,
    ) -> ZnsSent:
        """Send a ZNS template to a phone in ``84...`` form (see :func:`zalo.phone.normalize`).

        ``development`` delivers only to the app's and OA's admins, without charge.
        """
        body: dict[str, Any] = {
            "phone": phone,
            "template_id": template_id,
            "template_data": template_data,
            "tracking_id": tracking_id,
        }
        if development:
            body["mode"] = "development"
        answer = await self._zns("POST", "/message/template", token, app_id, json=body)
        return answer.parse(ZnsSent)

    async def zns_quota(self, token: str, *, app_id: str | None = None) -> ZnsQuota:
        answer = await self._zns("GET", "/message/quota", token, app_id)
        return answer.parse(ZnsQuota)

    async def zns_message_status(
        self, token: str, message_id: str, *, app_id: str | None = None
    ) -> ZnsMessageStatus:
        query = {"message_id": message_id}
        answer = await self._zns("GET", "/message/status", token, app_id, query=query)
        return answer.parse(ZnsMessageStatus)
