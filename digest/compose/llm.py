"""The language model, reached through the official ``openai`` SDK at any OpenAI-compatible
endpoint (DeepSeek, Qwen/DashScope, Moonshot, Zhipu, vLLM, Ollama...).

One request, one answer or one failure — as a value, never an exception: a model that is
slow, rate-limited, down or answering nonsense costs a key point its model text, never the
digest. The SDK retries 429 and 5xx itself (honouring Retry-After) up to ``max_retries``.

The answer is JSON validated with pydantic. The schema goes with the request as
``response_format={"type": "json_schema", ...}``; for servers that take only ``json_object``
(``json_mode="object"``) it goes in the system prompt instead.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import openai
from pydantic import BaseModel, ValidationError

from digest.compose.rules import model_rules

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)
Message = dict[str, str]


@dataclass(frozen=True, slots=True)
class ModelSettings:
    base_url: str
    model: str
    api_key: str | None = None  # a secret: never logged
    timeout: float = 30.0  # seconds, per request
    concurrency: int = 4
    token_budget: int = 60_000  # per digest
    json_mode: str = "schema"  # "schema" (response_format json_schema) or "object"
    max_retries: int = 2
    max_tokens: int = 600  # per answer


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    value: T
    raw: str  # the JSON as received (for the retry conversation)
    tokens: int


@dataclass(frozen=True, slots=True)
class Failure:
    reason: str
    tokens: int = 0
    transient: bool = False  # the server failed, not the answer: asking again now won't help


class ModelClient:
    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self._client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or "not-needed",  # local servers take any key
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )

    @property
    def model(self) -> str:
        return self.settings.model

    def ask(self, messages: list[Message], schema: type[T]) -> Answer[T] | Failure:
        """Send ``messages``; the answer parsed as ``schema``, or why there is none."""
        try:
            response = self._client.chat.completions.create(  # type: ignore[call-overload]
                model=self.settings.model,
                messages=self._with_schema(messages, schema),
                response_format=self._response_format(schema),
                max_tokens=self.settings.max_tokens,
                temperature=0.2,
            )
        except openai.APITimeoutError:
            return Failure(f"no answer within {self.settings.timeout:g} s", transient=True)
        except openai.RateLimitError:
            return Failure("rate limited (429) after retries", transient=True)
        except openai.APIStatusError as exc:
            return Failure(f"the server answered {exc.status_code}", transient=True)
        except openai.APIConnectionError as exc:
            return Failure(f"cannot reach the model server ({type(exc.__cause__).__name__})", True)
        tokens = response.usage.total_tokens if response.usage else 0
        if not response.choices:
            return Failure("an answer without choices", tokens)
        content = (response.choices[0].message.content or "").strip()
        try:
            return Answer(schema.model_validate_json(content), content, tokens)
        except ValidationError as exc:
            kind = "malformed JSON" if _not_json(content) else "JSON outside the schema"
            return Failure(f"{kind}: {_first_error(exc)}", tokens)

    def _response_format(self, schema: type[BaseModel]) -> dict[str, Any]:
        if self.settings.json_mode == "object":
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {
                "name": schema.__name__,
                "schema": schema.model_json_schema(),
                "strict": True,
            },
        }

    def _with_schema(self, messages: list[Message], schema: type[BaseModel]) -> list[Message]:
        if self.settings.json_mode != "object":
            return messages
        note = (
            model_rules()
            .prompts["schema_in_prompt"]
            .format(schema=json.dumps(schema.model_json_schema(), ensure_ascii=False))
        )
        system, *rest = messages
        return [{"role": "system", "content": f"{system['content']}\n\n{note}"}, *rest]

    def close(self) -> None:
        self._client.close()


def _not_json(content: str) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return True
    return False


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "answer"
    return f"{where}: {error['msg']}"[:120]
