"""Local file errors in the E2B transport are not transient: no backoff, no "gave up after N"."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from osiris.runtime.e2b.host.sdk import E2BTransport, translate
from osiris.runtime.e2b.host.transport import SandboxSpec, TransportError, UploadFile, with_retries
from tests.e2b import fake_e2b


@pytest.fixture(autouse=True)
def _fresh_calls():
    fake_e2b.CALLS.clear()
    fake_e2b.SENT.clear()
    yield


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TimeoutError("timed out"), True),
        (ConnectionRefusedError("refused"), True),
        (FileNotFoundError(2, "No such file or directory", "/host/in.csv"), False),
        (PermissionError(13, "Permission denied", "/host/out.csv"), False),
        (OSError(28, "No space left on device"), False),
    ],
)
def test_only_network_os_errors_are_transient(error: OSError, transient: bool) -> None:
    translated = translate(error, "uploading 1 file(s) to the sandbox")
    assert translated.transient is transient
    if error.filename:
        assert str(translated) == f"uploading 1 file(s) to the sandbox failed: {error.strerror}: {error.filename}"


def test_missing_host_file_is_not_retried(tmp_path: Path) -> None:
    sandbox = E2BTransport(
        sandbox_cls=fake_e2b.FakeSandbox, root=str(tmp_path / "remote"), python=sys.executable, cache_dir=None
    ).create(SandboxSpec(None, 60))
    missing = tmp_path / "gone.csv"
    sleeps: list[float] = []
    try:
        with pytest.raises(TransportError) as caught:
            with_retries(
                lambda: sandbox.upload([UploadFile("/x/gone.csv", missing)]),
                what="upload",
                attempts=3,
                backoff_s=0.01,
                sleep=sleeps.append,
            )
        assert not caught.value.transient and sleeps == []
        assert "gave up" not in str(caught.value) and str(missing) in str(caught.value)
        remote = str(tmp_path / "remote" / "out.csv")
        sandbox.upload([UploadFile(remote, b"a\n1\n")])
        unwritable = tmp_path / "no-such-dir" / "out.csv"
        with pytest.raises(TransportError) as caught:
            sandbox.download(remote, unwritable, 100)
        assert not caught.value.transient and str(unwritable) in str(caught.value)
    finally:
        sandbox.kill()
