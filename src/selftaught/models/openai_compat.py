"""Any OpenAI-compatible chat endpoint: OpenAI itself, vLLM, llama.cpp's server, Ollama, LM Studio, ...

One HTTP request per completion: many local servers ignore ``n``, and the recorder already runs
``concurrency`` requests at once. Retries are our own loop (the client's are switched off) so that the
back-off is configurable and tested, and so that failures can be translated into messages that tell the
user what to do once the retries are spent.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from typing import TypeVar

import openai

from selftaught.errors import ModelError, ModelUnavailable
from selftaught.models.base import ChatRequest, Completion, ModelProvider
from selftaught.models.http_limits import ReplyTooLarge, bounded, bounded_client, caused_by

#: Sent as the API key to servers that need none: the client refuses to start without one.
PLACEHOLDER_KEY = "not-needed"
OPENAI_URL = "https://api.openai.com/v1"
#: Status codes worth another attempt: rate limits, server overload and gateway errors.
_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_CONTEXT_WORDS = ("context length", "context_length", "context window", "maximum context", "too long")
#: The most bytes a reply may take: room for headers, JSON and usage, plus a generous bound per token (a
#: token is a few bytes of text, up to 6x that when JSON-escaped). A 256-token reply may take 1.06 MB.
REPLY_BYTES_BASE = 1 << 20
REPLY_BYTES_PER_TOKEN = 256
#: A model list carries no max_tokens; some servers list hundreds of models with descriptions.
LIST_BYTES = 16 << 20

T = TypeVar("T")


class _BadReply(Exception):
    """The server answered 200 with something that is not a usable completion (invalid JSON, no choices,
    no message). Retried like a 5xx; never returned, so never cached."""


def _one_line(text: object) -> str:
    """Server messages can span lines; a user error must print on one."""
    return re.sub(r"\s+", " ", str(text)).strip()


def _root_cause(exc: BaseException) -> str:
    """The innermost cause (e.g. ``[Errno 111] Connection refused``), which says more than the wrapper."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return _one_line(exc) or type(exc).__name__


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return _one_line(err["message"])
        if isinstance(err, str):
            return _one_line(err)
    return _one_line(exc.message)


class OpenAICompatModel(ModelProvider):
    """A chat model behind an OpenAI-compatible HTTP API, reached with the official ``openai`` client."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 6,
        timeout: float = 300,
        max_retries: int = 4,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.retry_base = float(retry_base)
        self.retry_cap = float(retry_cap)
        key = os.environ.get(api_key_env)
        if not key:
            if base_url is None:
                raise ModelUnavailable(
                    f"no API key for {OPENAI_URL}: set the environment variable {api_key_env}, "
                    "or point model.base_url at a local server")
            key = PLACEHOLDER_KEY
        self._key_is_placeholder = key == PLACEHOLDER_KEY
        # max_retries=0: retrying is ours (see module docstring). The client is thread-safe. Its transport
        # bounds each request by one total deadline and a byte cap (``http_limits``): httpx's own timeout
        # is per read, which a server trickling its reply never trips.
        self._client = openai.OpenAI(api_key=key, base_url=base_url, timeout=self.timeout, max_retries=0,
                                     http_client=bounded_client(self.timeout))

    @property
    def model_id(self) -> str:
        # Transport settings (URL, key, timeouts) stay out: they do not change what the model says.
        return f"openai-compat:{self.model}"

    @property
    def url(self) -> str:
        """Where requests really go (the client also honours OPENAI_BASE_URL when base_url is None)."""
        return str(self._client.base_url).rstrip("/")

    def complete(self, request: ChatRequest) -> Completion:
        """One chat completion; the provider's ``model`` is sent (``request.model`` only keys the cache)."""
        kwargs: dict = {
            "model": self.model,
            "messages": request.messages(),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.stop:
            kwargs["stop"] = list(request.stop)
        started = time.perf_counter()
        try:
            (choice, usage), attempts = self._with_retries(lambda: self._usable(kwargs))
        except openai.BadRequestError as exc:
            message = _server_message(exc)
            if any(word in message.lower() for word in _CONTEXT_WORDS):
                # A prompt too long for the server's context is the prompt's fault, not the run's: the
                # caller sees an empty reply (as with any reply without code) and the run goes on.
                return Completion("", latency=time.perf_counter() - started, finish_reason="context_overflow",
                                  extra={"error": message})
            raise ModelError(f"the model server at {self.url} rejected a request (400): {message}") from exc
        return Completion(
            text=choice.message.content or "",
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency=time.perf_counter() - started,
            finish_reason=choice.finish_reason,
            extra={"attempts": attempts},
        )

    def _usable(self, kwargs: dict) -> tuple:
        """One request (within ``model.timeout`` in all, and a reply size that ``max_tokens`` can explain);
        a 200 whose body is not a completion raises ``_BadReply`` (retried)."""
        max_bytes = REPLY_BYTES_BASE + REPLY_BYTES_PER_TOKEN * int(kwargs.get("max_tokens") or 0)
        with bounded(self.timeout, max_bytes):
            resp = self._client.chat.completions.create(**kwargs)
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise _BadReply("a reply with no choices")
        choice = choices[0]
        message = getattr(choice, "message", None)
        if message is None or not isinstance(getattr(choice, "finish_reason", None), str) or not choice.finish_reason:
            # Without a finish reason the reply was cut on the way (a complete one always says why it
            # ended); taking it would cache a truncated reply as if the model had meant it.
            raise _BadReply("a reply without a message or finish_reason (cut short?)")
        if not isinstance(message.content, str | None):
            raise _BadReply(f"a reply whose content is {type(message.content).__name__}, not text")
        return choice, resp.usage

    def check(self) -> None:
        """List the models (cheap, no generation); if ours is not listed, settle it with a 1-token reply.
        Every failure becomes ``ModelUnavailable``: before a run, nothing is worth starting without it."""
        try:
            try:
                listed = self._with_retries(self._listed, retries=1)[0]
            except (ModelUnavailable, ModelError) as exc:
                if not isinstance(exc.__cause__, (openai.NotFoundError, _BadReply)):
                    raise
                listed = set()  # some servers have no (or a broken) /models route; the probe below decides
            if self.model in listed:
                return
            # llama.cpp's server lists a file path but answers to any name, so absence is not failure yet.
            self._with_retries(lambda: self._usable(
                {"model": self.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}), retries=1)
        except openai.BadRequestError as exc:
            raise ModelUnavailable(f"the model server at {self.url} rejected a 1-token test request for "
                                   f"model '{self.model}' (400: {_server_message(exc)}); fix the model "
                                   "name or options") from exc
        except ModelError as exc:
            raise ModelUnavailable(f"{exc}") from exc

    def _listed(self) -> set:
        with bounded(self.timeout, LIST_BYTES):
            return {getattr(m, "id", None) for m in self._client.models.list()}

    def close(self) -> None:
        self._client.close()

    # -- retries and error translation ---------------------------------------------------------------

    def _delay(self, attempt: int, exc: Exception) -> float:
        """Exponential back-off with jitter; a server's Retry-After (seconds) is honoured up to the cap."""
        delay = min(self.retry_cap, self.retry_base * 2**attempt) * random.uniform(0.5, 1.0)
        response = getattr(exc, "response", None)
        if response is not None:
            try:
                delay = max(delay, min(self.retry_cap, float(response.headers.get("retry-after", ""))))
            except ValueError:
                pass
        return delay

    def _with_retries(self, call: Callable[[], T], retries: int | None = None) -> tuple[T, int]:
        """Run ``call``, retrying transient failures; returns (result, attempts). Permanent failures and
        spent retries become ``ModelUnavailable`` / ``ModelError``; a 400 is re-raised for the caller."""
        retries = self.max_retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                return call(), attempt + 1
            except openai.APIStatusError as exc:
                if exc.status_code not in _RETRY_STATUS:
                    self._raise_permanent(exc)
                last: Exception = exc
            except (openai.APIConnectionError, _BadReply, ReplyTooLarge) as exc:  # includes APITimeoutError
                too_large = caused_by(exc, ReplyTooLarge)  # raised as is, or wrapped (openai < 3)
                if too_large is not None:  # not retried: the same server would send the same again
                    raise ModelError(f"the model server at {self.url} sent a reply of {too_large}, more than "
                                     "any completion of this request's max_tokens needs; nothing of it was "
                                     "kept; check the server (its logs, its version) or model.base_url") from exc
                last = exc
            except (openai.APIResponseValidationError, ValueError) as exc:  # ValueError: invalid JSON
                last = _BadReply(f"a reply that is not valid JSON ({_one_line(exc)[:100]})")
            if attempt < retries:
                time.sleep(self._delay(attempt, last))
        raise self._exhausted(last, retries + 1) from last

    def _raise_permanent(self, exc: openai.APIStatusError) -> None:
        status, message = exc.status_code, _server_message(exc)
        if status in (401, 403):
            fix = (f"set the environment variable {self.api_key_env} to the server's key"
                   if self._key_is_placeholder else
                   f"check the key in the environment variable {self.api_key_env}")
            raise ModelUnavailable(f"the model server at {self.url} refused the API key "
                                   f"({status}: {message}); {fix}") from exc
        if status == 404:
            raise ModelUnavailable(f"model '{self.model}' not found at {self.url} (404: {message}); fix the "
                                   "model name, or model.base_url (it usually ends in /v1)") from exc
        if status == 400:
            raise exc
        raise ModelError(f"the model server at {self.url} answered {status}: {message}") from exc

    def _exhausted(self, exc: Exception, attempts: int) -> Exception:
        if isinstance(exc, openai.APITimeoutError):
            return ModelError(f"the model server at {self.url} did not answer within {self.timeout:g} s "
                              f"({attempts} attempts); raise model.timeout or lower max_tokens")
        if isinstance(exc, _BadReply):
            return ModelError(f"the model server at {self.url} sent {exc} ({attempts} attempts); check the "
                              "server (its logs, its version) or model.base_url")
        if isinstance(exc, openai.APIConnectionError):
            cause = _root_cause(exc)
            if "refused" in cause.lower() or "name or service" in cause.lower():
                return ModelUnavailable(f"cannot reach the model server at {self.url}: {cause} "
                                        f"({attempts} attempts); start it or fix model.base_url")
            return ModelError(f"the connection to the model server at {self.url} failed: {cause} "
                              f"({attempts} attempts); check that the server is up and healthy")
        status = getattr(exc, "status_code", "?")
        message = _server_message(exc) if isinstance(exc, openai.APIStatusError) else _one_line(exc)
        return ModelError(f"the model server at {self.url} kept failing ({status}: {message}) after "
                          f"{attempts} attempts; try again later or lower model.concurrency")
