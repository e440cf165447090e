"""A fake Telegram Bot API server on 127.0.0.1 that python-telegram-bot reaches through its
``base_url``, so the real library does the real HTTP. It keeps what each chat received and
injects the faults of production: 429 with retry_after, 403 blocked, 400 parse errors, chat
migrated, 5xx, slow answers, and requests held unanswered (a process killed mid-send).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_default
from html import unescape
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.support.loopback import Loopback

TOKEN = "123456:TEST-TOKEN-not-secret"
ALLOWED_TAGS = frozenset(
    "b strong i em u ins s strike del a code pre tg-spoiler span blockquote".split()
)


@dataclass
class Fault:
    method: str
    status: int
    description: str
    chat_id: int | None = None
    times: int = 1
    parameters: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0  # answer late (the client's timeout fires first)


def _json(value: Any) -> Any:
    """A parameter as sent: form fields carry JSON objects as text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def previews_off(message: dict[str, Any]) -> bool:
    options = message.get("link_preview_options") or {}
    return bool(options.get("is_disabled"))


class _HTMLCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.error = f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = f'can\'t find end tag corresponding to start tag "{tag}"'


def entity_error(text: str) -> str | None:
    checker = _HTMLCheck()
    checker.feed(text)
    checker.close()
    if checker.error is None and checker.stack:
        checker.error = f'can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    return checker.error


def visible_length(text: str, html: bool) -> int:
    if html:
        text = unescape(re.sub(r"<[^>]+>", "", text))
    return len(text.encode("utf-16-le")) // 2


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Form fields as values (JSON where they are JSON); files as {filename, content}."""
    message = BytesParser(policy=email_default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            params[str(name)] = {"filename": filename, "content": payload}
        else:
            params[str(name)] = _json(payload.decode("utf-8"))
    return params


def _sent(message_id: int, chat_id: int, **content: str) -> tuple[int, dict[str, Any]]:
    """The Message a send method answers with."""
    chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group"}
    message = {"message_id": message_id, "date": int(time.time()), "chat": chat, **content}
    return 200, {"ok": True, "result": message}


class FakeBotAPI:
    def __init__(self) -> None:
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.calls: Counter[str] = Counter()
        self.faults: list[Fault] = []
        self.blocked: set[int] = set()
        self.migrated: dict[int, int] = {}
        self.scoped_commands: dict[tuple[str, str], Any] = {}
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.send_times: dict[int, list[float]] = {}
        self.hold_after: int | None = None  # sendMessage calls beyond this are held, unanswered
        self.held = threading.Event()
        self.held_count = 0
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._next_message_id = 1
        self.updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._updates_ready = threading.Condition()
        self.chat_admins: set[tuple[int, int]] = set()  # (chat_id, user_id)
        # chat id -> seconds: messages are accepted at once and answered that much later
        self.slow_answers: dict[int, float] = {}
        self.edits: list[dict[str, Any]] = []
        self.answered_callbacks = 0
        self.inline_answers: list[dict[str, Any]] = []  # answerInlineQuery as received
        self.files: dict[int, list[dict[str, Any]]] = {}  # chat id -> sendPhoto / sendDocument
        self.webhook: dict[str, Any] | None = None  # what setWebhook was last given
        self._server = Loopback(self._handle, methods=("POST", "GET"), backlog=1024)
        self.port = self._server.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> FakeBotAPI:
        self._server.start()
        return self

    def stop(self) -> None:
        self._release.set()
        with self._updates_ready:
            self._updates_ready.notify_all()
        self._server.stop()

    def wait_held(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` requests are held (every sender of the client is stuck)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.held_count >= count:
                return True
            time.sleep(0.01)
        return False

    def release(self) -> None:
        self._release.set()

    def texts(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self.messages.get(chat_id, [])]

    # --- updates the tests send "from users" ---------------------------------------------

    def _push(self, update: dict[str, Any]) -> None:
        with self._updates_ready:
            update["update_id"] = self._next_update_id
            self._next_update_id += 1
            self.updates.append(update)
            self._updates_ready.notify_all()

    @staticmethod
    def _chat(chat_id: int, kind: str) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind != "private":
            chat["title"] = f"group {chat_id}"
        return chat

    def push_message(
        self, chat_id: int, user_id: int, text: str, kind: str = "private", language: str = "zh"
    ) -> None:
        self._push(self.message_update(chat_id, user_id, text, kind, language))

    def message_update(
        self, chat_id: int, user_id: int, text: str, kind: str = "private", language: str = "zh"
    ) -> dict[str, Any]:
        """An update carrying a user's text message (for getUpdates, or POSTed to a webhook)."""
        message: dict[str, Any] = {
            "message_id": 10_000 + self._next_update_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id, kind),
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": f"user{user_id}",
                "language_code": language,
            },
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
        return {"update_id": update_id, "message": message}

    def push_anonymous(self, chat_id: int, text: str) -> None:
        """A group admin who posts anonymously: the message comes as the group itself."""
        update = self.message_update(chat_id, 1087968824, text, "supergroup")  # GroupAnonymousBot
        update["message"]["sender_chat"] = self._chat(chat_id, "supergroup")
        self._push(update)

    def push_migration(self, old_chat_id: int, new_chat_id: int, user_id: int) -> None:
        """The service message a new supergroup receives when its group is upgraded."""
        update = self.message_update(new_chat_id, user_id, "", "supergroup")
        del update["message"]["text"]
        update["message"]["migrate_from_chat_id"] = old_chat_id
        self._push(update)

    def push_inline(self, user_id: int, query: str, language: str = "zh-hans") -> None:
        """A user typing ``@bot <query>`` in any chat."""
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
        user = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        self._push(
            {
                "update_id": update_id,
                "inline_query": {
                    "id": f"iq{update_id}",
                    "from": {**user, "language_code": language},
                    "query": query,
                    "offset": "",
                },
            }
        )

    def push_callback(self, chat_id: int, user_id: int, data: str, message_id: int = 1) -> None:
        self._push(self.callback_update(chat_id, user_id, data, message_id))

    def callback_update(
        self, chat_id: int, user_id: int, data: str, message_id: int = 1
    ) -> dict[str, Any]:
        """An update carrying a button press (for getUpdates, or POSTed to a webhook)."""
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cq{update_id}",
                "chat_instance": "ci",
                "data": data,
                "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": self._chat(chat_id, "private"),
                    "text": "…",
                },
            },
        }

    # --- request handling -----------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        match = re.match(r"^/bot([^/]+)/(\w+)", request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        if not match or match.group(1) != TOKEN:
            return self._reply(
                request, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        method = match.group(2)
        params = self._params(request.headers.get("Content-Type", ""), body)
        with self._lock:
            self.calls[method] += 1
        if method == "stats":  # not Bot API: what each chat received, for benchmarks
            counts = {str(k): len(v) for k, v in self.messages.items()}
            return self._reply(request, 200, {"ok": True, "result": counts})
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._reply(
                request,
                404,
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
            )
        status, payload = handler(params)
        self._reply(request, status, payload)

    @staticmethod
    def _params(content_type: str, body: bytes) -> dict[str, Any]:
        if "json" in content_type:
            return dict(json.loads(body or b"{}"))
        if "multipart/form-data" in content_type:  # a file upload (sendPhoto, sendDocument)
            return _multipart(content_type, body)
        params: dict[str, Any] = {}
        for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        return params

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _error(status: int, description: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
        payload: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            payload["parameters"] = parameters
        return status, payload

    def _fault_for(self, method: str, chat_id: int | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.chat_id in (None, chat_id) and fault.times:
                    fault.times -= 1
                    return fault
        return None

    # --- Bot API methods --------------------------------------------------------------------

    def _api_getMe(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {
            "ok": True,
            "result": {
                "id": 123456,
                "is_bot": True,
                "first_name": "chip-digest",
                "username": "chipdigest_bot",
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": True,
            },
        }

    def _api_setMyCommands(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        fault = self._fault_for("setMyCommands", None)
        if fault:
            return self._error(fault.status, fault.description)
        scope = params.get("scope") or {"type": "default"}
        if isinstance(scope, str):
            scope = json.loads(scope)
        commands = params["commands"]
        if isinstance(commands, str):
            commands = json.loads(commands)
        language = str(params.get("language_code", ""))
        if scope.get("type", "default") == "default":
            self.commands[language] = commands
        else:  # e.g. {"type": "chat", "chat_id": 42}: one admin's own menu
            self.scoped_commands[(str(scope.get("chat_id")), language)] = commands
        return 200, {"ok": True, "result": True}

    def _api_deleteWebhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.webhook = None
        return 200, {"ok": True, "result": True}

    def _api_setWebhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not str(params.get("url", "")).startswith("https://"):
            return self._error(400, "Bad Request: bad webhook: HTTPS url must be provided")
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        return 200, {"ok": True, "result": True}

    def _api_getUpdates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 2.0)
        with self._updates_ready:
            while True:
                fresh = [u for u in self.updates if u["update_id"] >= offset]
                remaining = deadline - time.monotonic()
                if fresh or remaining <= 0:
                    return 200, {"ok": True, "result": fresh}
                self._updates_ready.wait(remaining)

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.answered_callbacks += 1
        return 200, {"ok": True, "result": True}

    def _api_answerInlineQuery(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        results = _json(params.get("results")) or []
        ids = [r.get("id") for r in results]
        if len(results) > 50 or len(set(ids)) != len(ids) or any(len(str(i)) > 64 for i in ids):
            return self._error(400, "Bad Request: RESULT_ID_DUPLICATE or too many results")
        for result in results:
            content = result.get("input_message_content") or {}
            text = str(content.get("message_text", ""))
            if content.get("parse_mode") == "HTML" and (problem := entity_error(text)):
                return self._error(400, f"Bad Request: can't parse entities: {problem}")
            if visible_length(text, content.get("parse_mode") == "HTML") > 4096:
                return self._error(400, "Bad Request: MESSAGE_TOO_LONG")
        with self._lock:
            self.inline_answers.append({**params, "results": results})
        return 200, {"ok": True, "result": True}

    def _api_sendPhoto(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._send_file("photo", params)

    def _api_sendDocument(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._send_file("document", params)

    def _send_file(self, kind: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat_id = int(params["chat_id"])
        upload = params.get(kind)
        if not isinstance(upload, dict) or not upload.get("content"):
            return self._error(400, f"Bad Request: there is no {kind} in the request")
        caption = str(params.get("caption", ""))
        if params.get("parse_mode") == "HTML" and (problem := entity_error(caption)):
            return self._error(400, f"Bad Request: can't parse entities: {problem}")
        if visible_length(caption, params.get("parse_mode") == "HTML") > 1024:
            return self._error(400, "Bad Request: message caption is too long")
        with self._lock:
            message_id = self._next_message_id
            self._next_message_id += 1
            self.files.setdefault(chat_id, []).append({"kind": kind, "caption": caption, **upload})
        return _sent(message_id, chat_id, caption=caption)

    def _api_editMessageText(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat_id = int(params["chat_id"])
        with self._lock:
            self.edits.append(
                {
                    "chat_id": chat_id,
                    "message_id": params.get("message_id"),
                    "text": params.get("text"),
                    "link_preview_options": _json(params.get("link_preview_options")),
                }
            )
        return 200, {
            "ok": True,
            "result": {
                "message_id": int(params.get("message_id") or 1),
                "date": int(time.time()),
                "chat": self._chat(chat_id, "private"),
                "text": params.get("text"),
            },
        }

    def _api_getChatMember(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = "administrator" if (chat_id, user_id) in self.chat_admins else "member"
        member: dict[str, Any] = {
            "status": status,
            "user": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
        }
        if status == "administrator":
            member.update(
                {
                    key: True
                    for key in (
                        "can_be_edited",
                        "is_anonymous",
                        "can_manage_chat",
                        "can_delete_messages",
                        "can_manage_video_chats",
                        "can_restrict_members",
                        "can_promote_members",
                        "can_change_info",
                        "can_invite_users",
                        "can_post_stories",
                        "can_edit_stories",
                        "can_delete_stories",
                    )
                }
            )
        return 200, {"ok": True, "result": member}

    def _api_sendMessage(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat_id = int(params["chat_id"])
        with self._lock:
            sent_so_far = sum(self.calls[m] for m in ("sendMessage",)) - 1
        if self.hold_after is not None and sent_so_far >= self.hold_after:
            with self._lock:
                self.held_count += 1
            self.held.set()
            self._release.wait(30)
            return self._error(502, "Bad Gateway")  # never processed: the client is gone
        fault = self._fault_for("sendMessage", chat_id)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            return self._error(fault.status, fault.description, **fault.parameters)
        if chat_id in self.migrated:
            return self._error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat_id],
            )
        if chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        text = str(params.get("text", ""))
        html = params.get("parse_mode") == "HTML"
        if html and (problem := entity_error(text)):
            return self._error(400, f"Bad Request: can't parse entities: {problem}")
        if visible_length(text, html) > 4096:
            return self._error(400, "Bad Request: message is too long")
        with self._lock:
            message_id = self._next_message_id
            self._next_message_id += 1
            record = {
                "message_id": message_id,
                "text": text,
                "parse_mode": params.get("parse_mode"),
                "reply_markup": params.get("reply_markup"),
                "link_preview_options": _json(params.get("link_preview_options")),
            }
            self.messages.setdefault(chat_id, []).append(record)
            self.send_times.setdefault(chat_id, []).append(time.monotonic())
        if chat_id in self.slow_answers:  # accepted, but the answer comes late
            self._release.wait(self.slow_answers[chat_id])
        return _sent(message_id, chat_id, text=text)


if __name__ == "__main__":  # a stand-alone server for benchmarks: prints its port, serves on
    import sys

    api = FakeBotAPI().start()
    print(api.port, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    api.stop()
