"""What WhatsApp, Messenger and Instagram share: Meta's subscription handshake, the app-secret
signature, Graph API authentication and Graph API error bodies."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from integrations import conf
from integrations.adapters.base import MessagingAdapter, hmac_signature_valid, secret_matches
from integrations.delivery import ApiClient, ApiFailure, response_json, retry_after_header

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Graph API codes worth another try: unknown/temporary errors and every rate limit (app, user, page,
# WhatsApp account, throughput, pair). Everything else is permanent: 190 invalid token, 131047 outside
# the 24-hour window, 10 / 2018278 Messenger outside its window, 100 invalid parameter…
TRANSIENT_GRAPH_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 131016, 131056})


def read_graph_error(response: httpx.Response) -> ApiFailure:
    """`{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}`."""
    error = response_json(response).get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    transient = (
        response.status_code == httpx.codes.TOO_MANY_REQUESTS
        or response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR
        or code in TRANSIENT_GRAPH_CODES
        or error.get("is_transient") is True
    )
    return ApiFailure(
        status=response.status_code,
        code=str(code if code is not None else response.status_code),
        detail=str(error.get("message") or response.reason_phrase),
        transient=transient,
        retry_after=retry_after_header(response),
    )


def graph_client(app: str, settings: conf.MetaApp) -> ApiClient:
    # The token goes in a header, never in the URL, so it stays out of access logs.
    return ApiClient(app, read_graph_error, headers={"Authorization": f"Bearer {settings.access_token}"})


class MetaAdapter(MessagingAdapter):
    def __init__(self, settings: conf.MetaApp, client: ApiClient | None = None) -> None:
        super().__init__(client or graph_client(self.app, settings))
        self.settings = settings

    @property
    def configured(self) -> bool:
        return self.settings.configured

    @property
    def graph_url(self) -> str:
        return f"{self.settings.graph_base_url}/{self.settings.graph_version}"

    @property
    def messages_url(self) -> str:
        return f"{self.graph_url}/{self.settings.sender_id}/messages"

    def handshake(self, query: Mapping[str, str]) -> str | None:
        """`GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`: echo the challenge."""
        token_ok = secret_matches(
            query.get("hub.verify_token"), [self.settings.verify_token] if self.configured else []
        )
        if query.get("hub.mode") != "subscribe" or not token_ok:
            return None
        return query.get("hub.challenge") or None

    def signature_valid(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return hmac_signature_valid(body, headers.get(SIGNATURE_HEADER), self.settings.app_secrets)
