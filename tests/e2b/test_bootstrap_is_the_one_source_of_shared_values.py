"""bootstrap.py is the single source of the values host and sandbox share outside the wire protocol
(marker, build id, name normalisation); it has no protocol version of its own."""

from __future__ import annotations

import hashlib
from pathlib import Path

from osiris.runtime.e2b import protocol
from osiris.runtime.e2b.host import jobfiles, payload, wheel
from osiris.runtime.e2b.sandbox import bootstrap, connections

E2B = Path(protocol.__file__).parent


def test_bootstrap_has_no_protocol_version_of_its_own() -> None:
    assert not hasattr(bootstrap, "PROTOCOL") and protocol.PROTOCOL == 2


def test_marker_comes_from_bootstrap_and_no_secret_variable_exists() -> None:
    assert jobfiles.MARKER is bootstrap.MARKER
    for module in ("host/payload.py", "sandbox/connections.py", "host/jobfiles.py", "host/wheel.py",
                   "host/executor.py", "sandbox/worker.py", "sandbox/bootstrap.py"):
        text = (E2B / module).read_text(encoding="utf-8")
        assert "OSIRIS_E2B_CONNECTIONS" not in text, module  # connections travel over stdin (protocol 2)
        assert module == "sandbox/bootstrap.py" or ".osiris-complete" not in text, module
    assert not any(hasattr(m, "SECRET_ENV") for m in (payload, connections, bootstrap))


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
