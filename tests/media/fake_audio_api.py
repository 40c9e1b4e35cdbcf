"""A contract fake of OpenAI's audio endpoints as vLLM and OpenAI-compatible TTS servers speak them:
`POST /v1/audio/transcriptions` (multipart form: file, model, response_format, language…; answers
`json` with the text, or `verbose_json` with the text and the language: the one sent, else the one it
"heard", as vLLM 0.17 and later detect it for Whisper) and `POST /v1/audio/speech`
(JSON: model, input, voice, response_format, stream; answers the audio bytes). A real HTTP server on
127.0.0.1 (tests/support/loopback.py); every request is recorded with its form fields or JSON body,
and the next answer can be scripted."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tests.support.loopback import Exchange, LoopbackServer

VLLM_RESPONSE_FORMATS = frozenset({"json", "text", "verbose_json"})  # vLLM's transcription endpoint from 0.17


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)  # form fields (transcriptions) or JSON (speech)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name → (filename, type, bytes)


class FakeAudioApi(LoopbackServer):
    def __init__(
        self, *, transcription: dict[str, Any] | None = None, heard_language: str = "en", speech: bytes = b""
    ) -> None:
        super().__init__(routes={"/v1/audio/transcriptions": self._transcriptions, "/v1/audio/speech": self._speech})
        self.transcription = transcription or {}
        self.heard_language = heard_language  # what `verbose_json` says when no language is sent
        self.speech = speech
        self.status = 200
        self.requests: list[Recorded] = []

    async def _transcriptions(self, exchange: Exchange) -> None:
        recorded = Recorded(exchange.path, exchange.headers)
        message = BytesParser(policy=HTTP).parsebytes(
            f"content-type: {exchange.headers['content-type']}\r\n\r\n".encode() + exchange.body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if part.get_filename():
                recorded.files[name] = (part.get_filename(), part.get_content_type(), payload)
            else:
                recorded.fields[name] = payload.decode()
        self.requests.append(recorded)
        response_format = recorded.fields.get("response_format", "json")
        if response_format not in VLLM_RESPONSE_FORMATS:
            message = "Currently only support response_format: `text`, `json` or `verbose_json`"
            await exchange.respond_json(400, {"error": {"message": message, "type": "BadRequestError", "code": 400}})
            return
        answer = self.transcription
        if response_format == "verbose_json":
            language = recorded.fields.get("language") or self.heard_language
            answer = {"text": answer.get("text", ""), "language": language, "duration": "1.0", "segments": []}
        await self._answer(exchange, json.dumps(answer).encode(), "application/json")

    async def _speech(self, exchange: Exchange) -> None:
        self.requests.append(Recorded(exchange.path, exchange.headers, fields=json.loads(exchange.body)))
        await self._answer(exchange, self.speech, "audio/wav")

    async def _answer(self, exchange: Exchange, body: bytes, content_type: str) -> None:
        if self.status != 200:
            await exchange.respond_json(self.status, {"error": {"message": "overloaded", "type": "server_error"}})
            return
        await exchange.respond(200, body, content_type)
