"""bootstrap.py is the single source of the values host and sandbox share outside the wire
protocol; the transport's retries keep their documented counting on oml.backoff."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from osiris.runtime.e2b import bootstrap, conns, jobfiles, protocol, wheel
from osiris.runtime.e2b.transport import ConnectionLost, TransportError, with_retries

E2B = Path(bootstrap.__file__).parent


def test_bootstrap_has_no_protocol_version_of_its_own() -> None:
    assert not hasattr(bootstrap, "PROTOCOL") and protocol.PROTOCOL == 2


def test_marker_comes_from_bootstrap_and_no_secret_variable_exists() -> None:
    assert jobfiles.MARKER is bootstrap.MARKER
    for module in ("conns.py", "jobfiles.py", "wheel.py", "host.py", "worker.py", "bootstrap.py"):
        text = (E2B / module).read_text(encoding="utf-8")
        assert "OSIRIS_E2B_CONNECTIONS" not in text, module  # connections travel over stdin (protocol 2)
        assert module == "bootstrap.py" or ".osiris-complete" not in text, module
    assert not hasattr(conns, "SECRET_ENV") and not hasattr(bootstrap, "SECRET_ENV")


def test_build_installed_looks_for_the_bootstrap_marker() -> None:
    asked: list[str] = []

    class Sandbox:
        cache_dir = "/cache"

        def exists(self, path: str) -> bool:
            asked.append(path)
            return True

    build = wheel.Build(Path("x.whl"), "ab" * 32, cached=True)
    assert jobfiles.build_installed(Sandbox(), build)  # type: ignore[arg-type]
    assert asked == [f"/cache/{build.build_id}/{bootstrap.MARKER}"]


def test_one_build_id_and_one_name_normalisation(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"wheel bytes").hexdigest()
    assert wheel.Build(tmp_path / "a.whl", digest, cached=False).build_id == bootstrap.build_id(digest) == digest[:16]
    assert wheel.normalise is bootstrap.normalise and not hasattr(wheel, "_normalise")
    assert bootstrap.normalise("Typing_Extensions") == bootstrap.normalise("typing.extensions") == "typing-extensions"


def test_with_retries_counts_attempts_in_all_and_does_not_cap() -> None:
    sleeps: list[float] = []
    seen: list[tuple[int, str, float]] = []
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        raise ConnectionLost("stream reset", transient=True, hint="try again")

    with pytest.raises(ConnectionLost, match=r"^stream reset \(gave up after 5 attempts\)$") as caught:
        with_retries(
            flaky,
            what="upload",
            attempts=5,
            backoff_s=10.0,
            sleep=sleeps.append,
            on_retry=lambda n, e, d: seen.append((n, str(e), d)),
        )
    assert len(calls) == 5 and sleeps == [10.0, 20.0, 40.0, 80.0]  # no cap, unlike the LLM client
    assert [n for n, _, _ in seen] == [1, 2, 3, 4] and caught.value.hint == "try again" and caught.value.transient


def test_with_retries_single_attempt_and_eventual_success() -> None:
    sleeps: list[float] = []

    def once() -> None:
        raise TransportError("busy", transient=True)

    with pytest.raises(TransportError, match="^busy$"):  # one attempt: nothing to give up on
        with_retries(once, what="create", attempts=1, backoff_s=0.5, sleep=sleeps.append)
    assert sleeps == []

    answers = iter([TransportError("busy", transient=True), "sandbox"])

    def second_time() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert with_retries(second_time, what="create", attempts=3, backoff_s=0.5, sleep=sleeps.append) == "sandbox"
    assert sleeps == [0.5]
