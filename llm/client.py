"""Talk to any OpenAI-compatible endpoint: OpenAI, Ollama, vLLM, LM Studio.

The openai SDK's own retries are switched off (max_retries=0) so that this module owns the
policy: retry 429, 5xx, timeouts and dropped connections with exponential backoff (honouring
Retry-After), then fail with one line that says what to do. A 401 never retries and never
prints a traceback. Streaming and non-streaming replies come back as the same `Reply`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from osiris.llm.tokens import count_tokens
from osiris.oml.secrets import mask_text, strip_userinfo
from osiris.runtime.backoff import backoff_delay

__all__ = ["ChatClient", "LLMError", "LLMSettings", "Reply", "ToolCall", "ToolsUnsupported", "Usage"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_DELAY_S = 30.0
"""No wait between attempts is longer, whether from the backoff or from a server's Retry-After."""


class LLMError(Exception):
    """The endpoint could not give us an answer; the message is one line for the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ToolsUnsupported(LLMError):
    """The endpoint or model rejected the `tools` parameter; retry in fenced-YAML mode."""


@dataclass(frozen=True)
class LLMSettings:
    model: str
    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    timeout_s: float = 120.0
    retries: int = 3
    """Retries after the first request (OSIRIS_LLM_RETRIES): 3 means up to 4 requests in all."""
    backoff_s: float = 1.0
    """The first retry's delay (OSIRIS_LLM_BACKOFF); it doubles per retry, capped at MAX_DELAY_S."""
    stream: bool = False
    temperature: float | None = 0.0

    @classmethod
    def resolve(
        cls,
        *,
        model: str | None = None,
        base_url: str | None = None,
        stream: bool | None = None,
        timeout_s: float | None = None,
        env: Mapping[str, str] | None = None,
        saved_base_url: str | None = None,
    ) -> LLMSettings:
        """Command line first, then OSIRIS_LLM_*, then OPENAI_*, then the default endpoint; raise
        LLMError when no model or a setting is malformed.

        `saved_base_url` (a resumed session's) is never a source: the API key goes only where the
        operator's own flags and environment point. A session saved against another endpoint is
        refused, unless `--base-url` names the endpoint again on this command line."""
        env = os.environ if env is None else env
        url = base_url or env.get("OSIRIS_LLM_BASE_URL") or env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        if saved_base_url and not base_url and not same_endpoint(saved_base_url, url):
            raise LLMError(
                f"this chat session was held with the endpoint {_shown_url(saved_base_url)}, but your "
                f"configuration ({_url_source(env)}) points at {_shown_url(url)}; the API key is only "
                "sent where your own configuration points",
                hint="to continue with the session's endpoint, name it yourself: --base-url URL "
                "(or point OSIRIS_LLM_BASE_URL at it); or start a new chat",
            )
        name = model or env.get("OSIRIS_LLM_MODEL")
        if not name:
            raise LLMError("no model chosen", hint="pass --model NAME or set OSIRIS_LLM_MODEL")
        key = env.get("OSIRIS_LLM_API_KEY") or env.get("OPENAI_API_KEY") or ""
        if not key and url.rstrip("/") == DEFAULT_BASE_URL:
            raise LLMError(
                "no API key for api.openai.com",
                hint="set OPENAI_API_KEY (or OSIRIS_LLM_API_KEY), or point --base-url at a local server",
            )
        if timeout_s is not None and not timeout_s > 0:
            raise LLMError(f"--timeout must be a number of seconds > 0, not {timeout_s:g}")
        return cls(
            model=name,
            base_url=_check_url(url, "--base-url" if base_url else _url_source(env)),
            api_key=key or "not-needed",
            timeout_s=timeout_s or _number(env, "OSIRIS_LLM_TIMEOUT", 120.0, float, minimum=0, strict=True),
            retries=_number(env, "OSIRIS_LLM_RETRIES", 3, int, minimum=0),
            backoff_s=_number(env, "OSIRIS_LLM_BACKOFF", 1.0, float, minimum=0),
            stream=bool(stream) if stream is not None else env.get("OSIRIS_LLM_STREAM", "") in ("1", "true"),
        )


def _url_source(env: Mapping[str, str]) -> str:
    if env.get("OSIRIS_LLM_BASE_URL"):
        return "OSIRIS_LLM_BASE_URL"
    if env.get("OPENAI_BASE_URL"):
        return "OPENAI_BASE_URL"
    return "the default base URL"


def _shown_url(url: str) -> str:
    """A URL for a message: no password, control characters escaped (a saved session is untrusted)."""
    return repr(strip_userinfo(mask_text(url.strip())))


def _endpoint(url: str) -> tuple[str, str, int | None, str] | None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
        return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")
    except ValueError:
        return None


def same_endpoint(a: str, b: str) -> bool:
    """Do two base URLs name the same endpoint (scheme, host, port, path; userinfo aside)?"""
    first = _endpoint(a)
    return first is not None and first == _endpoint(b)


def _check_url(url: str, source: str) -> str:
    """An http(s) URL with a host, without the trailing slash; LLMError naming `source` otherwise."""
    from urllib.parse import urlsplit

    text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise LLMError(
            f"{source} {_shown_url(url)} is not an http:// or https:// URL with a host",
            hint="e.g. --base-url http://localhost:11434/v1 (it usually ends in /v1)",
        )
    return text.rstrip("/")


def _number(
    env: Mapping[str, str],
    name: str,
    default: Any,
    kind: Callable[[str], Any],
    *,
    minimum: float,
    strict: bool = False,
) -> Any:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        value = None
    if value is None or value != value or value < minimum or (strict and value == minimum):
        what = "a whole number" if kind is int else "a number"
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise LLMError(f"{name}={raw!r} is not {what} {bound}", hint=f"unset {name} or fix its value")
    return value


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    """The raw JSON text the model produced (may be invalid; the tool runner reports that)."""

    def parsed(self) -> dict[str, Any]:
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError("tool arguments must be a JSON object")
        return value


@dataclass(frozen=True)
class Usage:
    """Token use of one reply. The client keeps no running total: the session's `tokens` is the
    one tally (llm.author adds each reply to it; it is saved with the session)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False


@dataclass(frozen=True)
class Reply:
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()

    def as_message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return message


class ChatClient:
    """One endpoint and model; `complete()` is the only call the conversation makes."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        from openai import OpenAI

        self.settings = settings
        self.shown_url = strip_userinfo(settings.base_url)
        """The endpoint as messages name it (never with a password)."""
        self._sleep = sleep
        self._on_retry = on_retry
        # No redirects: one to another origin would carry the conversation (schemas, samples)
        # and possibly the key there; the SDK's default client follows them.
        self._client = OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key,
            max_retries=0,
            timeout=settings.timeout_s,
            http_client=_no_redirects_client(settings.timeout_s),
        )

    def close(self) -> None:
        self._client.close()

    def complete(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> Reply:
        """Send the conversation; retry what is worth retrying; raise LLMError otherwise."""
        import openai

        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(messages, tools)
            except openai.APIStatusError as error:
                status = error.status_code
                if 300 <= status < 400:
                    raise self._redirected(error) from None
                if status in _RETRY_STATUS and attempt <= self.settings.retries:
                    self._wait(attempt, f"HTTP {status}", _retry_after(error))
                    continue
                raise self._status_error(error, tools, attempt) from None
            except openai.APITimeoutError:
                if attempt <= self.settings.retries:
                    self._wait(attempt, "timeout", None)
                    continue
                raise LLMError(
                    f"the LLM endpoint at {self.shown_url} did not answer within "
                    f"{self.settings.timeout_s:g}s ({attempt} attempts)",
                    hint="a slow local model may need OSIRIS_LLM_TIMEOUT=600",
                ) from None
            except openai.APIConnectionError as error:
                if attempt <= min(1, self.settings.retries):
                    self._wait(attempt, "connection failed", None)
                    continue
                raise LLMError(
                    f"cannot reach the LLM endpoint at {self.shown_url}: {_reason(error)}",
                    hint="is the server running? set --base-url or OSIRIS_LLM_BASE_URL",
                ) from None
            except openai.APIError as error:  # e.g. an SSE `error` event in a 200 stream
                raise self._not_a_completion(_server_message(error)) from None
            except (ValueError, TypeError, AttributeError, IndexError) as error:
                # A 200 whose body is not a chat completion: HTML from a web UI, `{}`, no
                # choices, a torn SSE chunk. Retrying would get the same answer.
                raise self._not_a_completion(_shape_problem(error)) from None

    def _redirected(self, error: Any) -> LLMError:
        try:
            location = error.response.headers.get("location") or "nowhere"
        except AttributeError:
            location = "nowhere"
        return LLMError(
            f"the LLM endpoint at {self.shown_url} answered HTTP {error.status_code}, a redirect to "
            f"{_shown_url(location)}; osiris chat does not follow redirects (the conversation and the "
            "API key would go with it)",
            hint="if you trust the new address, pass it as --base-url",
        )

    def _not_a_completion(self, detail: str) -> LLMError:
        return LLMError(
            f"the endpoint at {self.shown_url} did not return an OpenAI chat completion: {detail}",
            hint="check --base-url (it usually ends in /v1)",
        )

    def _wait(self, attempt: int, why: str, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), MAX_DELAY_S)
        else:
            delay = backoff_delay(self.settings.backoff_s, attempt, MAX_DELAY_S)
        if self._on_retry is not None:
            self._on_retry(f"{why}; retrying in {delay:.1f}s (attempt {attempt + 1})")
        self._sleep(delay)

    def _status_error(self, error: Any, tools: Sequence[Mapping[str, Any]] | None, attempt: int) -> LLMError:
        status, url, detail = error.status_code, self.shown_url, _server_message(error)
        if status in (401, 403):
            return LLMError(
                f"the LLM endpoint at {url} rejected the API key (HTTP {status})",
                hint="set OSIRIS_LLM_API_KEY or OPENAI_API_KEY to a valid key",
            )
        if status == 404:
            return LLMError(
                f"model {self.settings.model!r} or the chat API was not found at {url} (HTTP 404)",
                hint="check --model and that --base-url ends in /v1 (Ollama: `ollama pull MODEL`)",
            )
        if status in (400, 422) and tools and "tool" in detail.lower():
            return ToolsUnsupported(f"the model does not accept tool calls: {detail}")
        if status in _RETRY_STATUS:
            return LLMError(
                f"the LLM endpoint at {url} kept failing: HTTP {status} after {attempt} attempts: {detail}",
                hint="try again later, or another endpoint",
            )
        return LLMError(f"the LLM endpoint refused the request (HTTP {status}): {detail}")

    def _once(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None
    ) -> Reply:
        kwargs: dict[str, Any] = {"model": self.settings.model, "messages": list(messages)}
        if tools:
            kwargs["tools"] = list(tools)
        if self.settings.temperature is not None:
            kwargs["temperature"] = self.settings.temperature
        if not self.settings.stream:
            response = self._client.chat.completions.create(**kwargs)
            message = response.choices[0].message
            calls = tuple(
                ToolCall(c.id, c.function.name, c.function.arguments or "")
                for c in (message.tool_calls or ())
                if getattr(c, "function", None) is not None
            )
            usage = (
                Usage(response.usage.prompt_tokens, response.usage.completion_tokens)
                if response.usage
                else _estimate(messages, message.content or "", calls)
            )
            return Reply(message.content or "", calls, usage)
        return self._streamed(kwargs, messages)

    def _streamed(self, kwargs: dict[str, Any], messages: Sequence[Mapping[str, Any]]) -> Reply:
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        usage: Usage | None = None
        stream = self._client.chat.completions.create(stream=True, **kwargs)
        chunks = 0
        try:
            for chunk in stream:
                chunks += 1
                if getattr(chunk, "usage", None):
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta.content:
                        text.append(delta.content)
                    for part in delta.tool_calls or ():
                        slot = calls.setdefault(part.index, {"id": "", "name": "", "arguments": []})
                        slot["id"] = part.id or slot["id"]
                        if part.function is not None:
                            slot["name"] = part.function.name or slot["name"]
                            slot["arguments"].append(part.function.arguments or "")
        finally:
            stream.close()
        if not chunks:
            raise ValueError("the stream carried no completion chunks")
        tool_calls = tuple(
            ToolCall(s["id"] or f"call_{i}", s["name"], "".join(s["arguments"]))
            for i, s in sorted(calls.items())
        )
        content = "".join(text)
        return Reply(content, tool_calls, usage or _estimate(messages, content, tool_calls))


def _no_redirects_client(timeout_s: float) -> Any:
    """The SDK's HTTP client, with redirects off, closed when dropped (as the SDK's own is)."""
    from openai import DefaultHttpxClient

    class NoRedirects(DefaultHttpxClient):  # type: ignore[misc, valid-type]
        def __del__(self) -> None:
            try:
                if not self.is_closed:
                    self.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    return NoRedirects(follow_redirects=False, timeout=timeout_s)


def _estimate(messages: Sequence[Mapping[str, Any]], content: str, calls: Sequence[ToolCall]) -> Usage:
    """Some local servers report no usage; count tokens ourselves so figures are never missing."""
    prompt = count_tokens(json.dumps(list(messages), ensure_ascii=False))
    completion = count_tokens(content + "".join(c.arguments for c in calls))
    return Usage(prompt, completion, estimated=True)


def _retry_after(error: Any) -> float | None:
    try:
        value = error.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None


def _server_message(error: Any) -> str:
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not message and isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    text = str(message or getattr(error, "message", "") or "no detail")
    return " ".join(text.split())[:300]


def _shape_problem(error: Exception) -> str:
    """One line on why a 200 reply could not be read as a chat completion."""
    if isinstance(error, json.JSONDecodeError):
        return f"the body is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    if isinstance(error, AttributeError) and "'str' object" in str(error):
        return "the body is not JSON (an HTML page?)"
    if isinstance(error, IndexError):
        return "the reply has no choices"
    text = " ".join(str(error).split())[:200]
    return f"unexpected reply shape ({type(error).__name__}: {text})"


def _reason(error: Exception) -> str:
    cause: BaseException | None = error
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause or error) or type(cause or error).__name__
    if "refused" in text.lower():
        return "connection refused"
    return " ".join(text.split())[:200]
