"""Record what the sandbox run did: artifacts/e2b.json and the run-level `e2b_*` metrics.

Sandbox facts go to an artifact and to metrics, never to events: a sandbox run's
events.jsonl has exactly the events a local run has (docs/e2b.md, "Parity").
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from osiris.runtime.secrets import SecretMasker

__all__ = ["record_facts"]

log = logging.getLogger("osiris.e2b")
_PHASES = ("create", "upload", "start", "exec", "download", "total")


def record_facts(report: dict[str, Any], path: Path, masker: SecretMasker, metrics: Any) -> None:
    text = json.dumps(masker.mask_data(report), indent=2, sort_keys=True, ensure_ascii=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(masker.mask(text) + "\n", encoding="utf-8")
    except OSError as error:
        log.warning("cannot write %s: %s", path, error)
    transport = str(report.get("transport"))
    timings = report.get("timings_ms", {})
    for name in _PHASES:
        if name in timings:
            metrics.emit(f"e2b_{name}_ms", timings[name], "ms", transport=transport)
    traffic = report.get("traffic", {})
    metrics.emit("e2b_upload_bytes", traffic.get("upload_bytes", 0), "bytes", transport=transport)
    metrics.emit(
        "e2b_protocol_bytes", traffic.get("bytes_in", 0) + traffic.get("bytes_out", 0), "bytes", transport=transport
    )
