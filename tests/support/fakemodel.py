"""A fake OpenAI-compatible chat server on 127.0.0.1 that the real ``openai`` SDK reaches over
real HTTP, as python-telegram-bot reaches the fake Bot API.

Answers are scripted by a function of the parsed request (:class:`ChatRequest`); the default,
:func:`faithful`, answers as a careful model would: the point is a sentence of a source in the
requested language (or a translation the test supplied), citing it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import Loopback

LANGUAGE_NAMES = {"simplified Chinese": "zh", "English": "en"}
_SOURCE = re.compile(r"^\[(\d+)\] \(([^,]+), ([^)]*)\)\n(.*?)(?=\n\n\[\d+\] \(|\Z)", re.M | re.S)
_STORY = re.compile(r"^\[(\d+)\]\nen: (.*?)\nzh: (.*?)$", re.M)


@dataclass
class Source:
    number: int
    language: str
    outlet: str
    text: str

    @property
    def title(self) -> str:
        return self.text.split("\n", 1)[0]


@dataclass
class ChatRequest:
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.body["messages"]

    @property
    def system(self) -> str:
        return self.messages[0]["content"]

    @property
    def user(self) -> str:
        return self.messages[1]["content"]

    @property
    def kind(self) -> str:
        return "insights" if "Core Insights" in self.system else "point"

    @property
    def is_retry(self) -> bool:
        return len(self.messages) > 2

    @property
    def language(self) -> str:
        found = re.search(r"Write the key point in ([A-Za-z ]+?):", self.system)
        return LANGUAGE_NAMES[found.group(1)] if found else "zh"

    @property
    def sources(self) -> list[Source]:
        return [
            Source(
                int(m.group(1)), LANGUAGE_NAMES.get(m.group(2), m.group(2)), m.group(3), m.group(4)
            )
            for m in _SOURCE.finditer(self.user)
        ]

    @property
    def stories(self) -> list[dict[str, str]]:
        return [{"en": m.group(2), "zh": m.group(3)} for m in _STORY.finditer(self.user)]


@dataclass
class FakeReply:
    content: str | None = None  # the assistant's message (JSON text, or anything)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    tokens: int = 150


Responder = Callable[[ChatRequest], FakeReply]


def point(
    text: str, citations: list[int], headlines: list[dict[str, Any]] | None = None
) -> FakeReply:
    return FakeReply(
        json.dumps(
            {"text": text, "citations": citations, "headlines": headlines or []}, ensure_ascii=False
        )
    )


def faithful(translations: dict[str, str] | None = None) -> Responder:
    """A careful model: a source's headline in the requested language, or the test's own
    translation of one; headlines translated where the test gave a translation."""
    translations = translations or {}

    def respond(request: ChatRequest) -> FakeReply:
        if request.kind == "insights":
            stories = request.stories[:3]
            insights = [
                {"zh": s["zh"], "en": s["en"], "stories": [n]} for n, s in enumerate(stories, 1)
            ]
            return FakeReply(json.dumps({"insights": insights}, ensure_ascii=False))
        language = request.language
        sources = request.sources
        own = next((s for s in sources if s.language == language), None)
        if own is not None:
            text, cited = own.title, own.number
        else:
            cited = sources[0].number
            text = translations.get(sources[0].title, sources[0].title)
        headlines = [
            {"source": s.number, "text": translations[s.title]}
            for s in sources
            if s.language != language and s.title in translations
        ]
        return point(text, [cited], headlines)

    return respond


class FakeModel:
    def __init__(self, respond: Responder | None = None, model: str = "fake-model") -> None:
        self.respond = respond or faithful()
        self.model = model
        self.requests: list[ChatRequest] = []
        self._lock = threading.Lock()
        self._server = Loopback(self._handle, methods=("POST",))
        self.port = self._server.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeModel:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = json.loads(handler.rfile.read(length) or b"{}")
        if handler.path != "/v1/chat/completions":
            return self._send(handler, 404, {}, b'{"error": {"message": "not found"}}')
        request = ChatRequest(body, dict(handler.headers.items()))
        with self._lock:
            self.requests.append(request)
        reply = self.respond(request)
        if reply.delay:
            self._server.stopping.wait(reply.delay)
        if reply.status != 200:
            error = json.dumps({"error": {"message": "scripted failure", "type": "server_error"}})
            return self._send(handler, reply.status, reply.headers, error.encode())
        completion = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": reply.tokens - 50,
                "completion_tokens": 50,
                "total_tokens": reply.tokens,
            },
        }
        self._send(handler, 200, reply.headers, json.dumps(completion).encode())

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): what a real server sees too
