"""A sandbox writer with `overwrite: false` never replaces a host file, even one that appears
while its output is being downloaded (the download publishes without clobbering)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from osiris.runtime.e2b.host.downloads import Artifact, Downloader
from osiris.runtime.e2b.paths import Mount

OUTPUT = b"id,name\n1,sandbox\n"


class _RacingSandbox:
    """Writes the sandbox file to the temp name; meanwhile a host file appears at the target."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def download(self, remote: str, local: Path, limit: int) -> int:
        local.write_bytes(OUTPUT)
        self.target.write_bytes(b"the operator's file\n")
        return len(OUTPUT)


def _download(tmp_path: Path, *, overwrite: bool) -> tuple[Path, list[tuple[str, str]]]:
    target = tmp_path / "out" / "x.csv"
    target.parent.mkdir()
    failures: list[tuple[str, str]] = []
    downloader = Downloader(
        _RacingSandbox(target),
        [Mount(str(tmp_path), "/sandbox/work")],
        retries=1,
        backoff_s=0,
        on_failure=lambda step, message: failures.append((step, message)),
    )
    artifact = Artifact("write", 0, "out/x.csv", len(OUTPUT), hashlib.sha256(OUTPUT).hexdigest(), overwrite=overwrite)
    downloader.submit(artifact)
    downloader.finish()
    assert not [p for p in target.parent.iterdir() if p.name != "x.csv"], "no temp file is left behind"
    return target, failures


def test_no_clobber_download_keeps_a_file_that_appeared_meanwhile(tmp_path):
    target, failures = _download(tmp_path, overwrite=False)
    assert target.read_bytes() == b"the operator's file\n"
    assert failures and failures[0][0] == "write"
    assert "already exists on the host and overwrite is false" in failures[0][1]


def test_an_overwriting_download_replaces_it(tmp_path):
    target, failures = _download(tmp_path, overwrite=True)
    assert failures == []
    assert target.read_bytes() == OUTPUT


PIPELINE = """\
oml_version: "0.1.0"
name: keep
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {{path: in.csv}}
  - id: write
    component: filesystem.csv_writer
    needs: [read]
    config: {{path: out/x.csv{extra}}}
"""


@pytest.mark.parametrize(
    ("extra", "kept"), [(", overwrite: false", {"write"}), (", overwrite: true", set()), ("", set())]
)
def test_staging_marks_the_writers_whose_download_must_not_clobber(tmp_path, extra, kept):
    from osiris.compiler.api import CompileOptions, compile_text
    from osiris.runtime.e2b.host.staging import stage

    (tmp_path / "in.csv").write_text("id\n1\n")
    result = compile_text(PIPELINE.format(extra=extra), "pipeline.yaml", CompileOptions(cwd=tmp_path))
    assert result.ok, result.diagnostics
    staging = stage(result.compiled.manifest, result.compiled.cfgs, None, tmp_path, "/sandbox")
    assert staging.keep_existing == kept
