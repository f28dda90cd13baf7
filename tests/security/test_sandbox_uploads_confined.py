"""What goes into the sandbox: never the connections file, nothing a link leads to outside the roots.

A filesystem extractor's input is uploaded into the sandbox before any step runs. Named as
that input (directly, or inside an input directory), the connections file would put every
secret into the sandbox's file system, where step code can read it; a symbolic link inside
the project pointing at a file elsewhere would upload that file. Both are refused before
anything is uploaded, with the step named.
"""

from __future__ import annotations

import os
import secrets

import pytest

from osiris.runtime.e2b.host.options import E2BOptions
from tests.e2b.helpers import hostile_workspace, run_hostile

PIPELINE = """\
oml_version: "0.1.0"
name: uploads
steps:
  - id: read-input
    component: filesystem.csv_extractor
    mode: read
    config: {{path: {path}, delimiter: "|", header: false}}
  - id: write-copy
    component: filesystem.csv_writer
    mode: write
    needs: [read-input]
    config: {{path: out/copy.csv}}
"""


def _run(tmp_path, path: str, link: bool):
    password = f"Upl-S3cret-{secrets.token_hex(8)}"
    ws = hostile_workspace(tmp_path / "ws", PIPELINE.format(path=path))
    conf = ws / "osiris_connections.yaml"
    conf.write_text(
        "version: 1\nconnections:\n  mysql:\n"
        f'    app: {{host: 127.0.0.1, database: test, user: root, password: "{password}"}}\n',
        encoding="utf-8",
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.csv").write_text(f"private,{password}\n", encoding="utf-8")
    if link:
        os.symlink(outside / "private.csv", ws / "data" / "linked.csv")
    outcome, executor, local = run_hostile(
        tmp_path, {}, workspace=ws, connections=str(conf), options=E2BOptions(transport="local", keep=True)
    )
    try:
        uploaded = [p.read_bytes() for sandbox in local.created for p in sandbox.path.rglob("*") if p.is_file()]
        return outcome, executor, password, uploaded
    finally:
        for sandbox in local.created:
            sandbox.kill()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ('"."', "path 'osiris_connections.yaml' is the connections file"),  # a directory input holding it
        ("data/linked.csv", "resolves outside the project (through a symbolic link)"),
        ("data", "resolves outside the project (through a symbolic link)"),
    ],
)
def test_secret_and_outside_files_are_not_uploaded(tmp_path, path, expected):
    outcome, executor, password, uploaded = _run(tmp_path, path, link="symbolic link" in expected)
    assert outcome.exit_code == 1
    error = outcome.status["steps"]["read-input"]["error"]
    assert error and expected in error["message"], error
    assert executor.last_report["traffic"]["upload_bytes"] == 0
    assert not any(password.encode() in data for data in uploaded)


@pytest.mark.parametrize("path", ["osiris_connections.yaml", "./osiris_connections.yaml",
                                  "data/../osiris_connections.yaml"])
def test_the_connections_file_named_as_an_input_is_a_compile_error(tmp_path, path):  # noqa: ANN001
    """Named directly, the file never reaches staging: the compile refuses it (OML085), no sandbox starts."""
    outcome, executor, password, uploaded = _run(tmp_path, path, link=False)
    assert outcome.exit_code == 1
    assert outcome.status["error"]["stage"] == "compile" and outcome.status["steps"] == {}
    assert [d.code for d in outcome.diagnostics] == ["OML085"]
    assert executor.last_report == {} and uploaded == []
