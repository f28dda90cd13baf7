"""`osiris chat` reads and writes only inside the project, like hand-written OML.

Discovery (the model's `discover` tool, `--discover`, paths in the request), `--out`,
`--session-dir`, a resumed session's saved output path and every path a model writes into a
pipeline obey compiler/path_policy.py: no `..` out of the project root, no absolute path
outside it, no symbolic link inside it that leads out. The attacks read a CSV of credentials
next to the project and try to write beside it; the replay server records every request, so
the tests can show that no row ever reached the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from osiris.llm.session import ChatSession
from tests.llm.conftest import GOOD_OML, chat
from tests.support.openai_server import Reply, yaml_reply

ROW = "svc-admin,Creds-Row-Secret-5521"


@pytest.fixture
def other(project: Path) -> Path:
    """A directory beside the project holding a credentials CSV."""
    directory = project.parent / f"{project.name}-other"
    directory.mkdir()
    (directory / "creds.csv").write_text(f"user,password\n{ROW}\n")
    return directory


def _sent(endpoint) -> str:  # noqa: ANN001
    return b"".join(r.body for r in endpoint.server.requests).decode()


def _session_text(project: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (project / ".osiris").rglob("*") if p.is_file())


def _discover_then_answer(endpoint, target: str) -> None:  # noqa: ANN001
    endpoint.server.add(
        Reply(tool_calls=[("discover", {"target": target, "sample_rows": 3})]),
        yaml_reply(GOOD_OML),
    )


@pytest.mark.parametrize("how", ["relative", "absolute", "link-to-file", "link-in-directory"])
def test_the_models_discover_tool_cannot_read_outside_the_project(project: Path, endpoint, other: Path,
                                                                  how: str) -> None:
    creds = other / "creds.csv"
    if how == "relative":
        target = os.path.relpath(creds, project)  # ../<project>-other/creds.csv
    elif how == "absolute":
        target = str(creds)
    elif how == "link-to-file":
        (project / "data" / "creds.csv").symlink_to(creds)
        target = "data/creds.csv"
    else:
        (project / "data" / "more.csv").symlink_to(creds)
        target = "data"
    _discover_then_answer(endpoint, target)
    # --discover of a file in the project makes the user's --samples 3 apply to the model's calls
    assert chat("-m", "copy orders to parquet", "-y", "--tools", "on", "--samples", "3", "-o", "p.yaml",
                "--discover", "data/orders.csv") == 0
    sent = _sent(endpoint)
    assert "Creds-Row-Secret-5521" not in sent and "svc-admin" not in sent and "password string" not in sent
    assert "order_id" in sent  # samples were allowed: the project's own file was sampled
    assert "cannot discover" in sent and "project" in sent  # the model was told why, and can go on
    assert "Creds-Row-Secret-5521" not in _session_text(project)


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_discovery_the_operator_or_the_request_names_stays_in_the_project(project: Path, endpoint, other: Path,
                                                                          where: str, capsys) -> None:
    creds = other / "creds.csv"
    target = os.path.relpath(creds, project) if where == "relative" else str(creds)
    endpoint.server.add(yaml_reply(GOOD_OML))
    code = chat("-m", f"copy {target} to parquet", "--discover", target, "-y", "--tools", "off",
                "--samples", "3", "-o", "p.yaml")
    assert code == 0
    assert "Creds-Row-Secret-5521" not in _sent(endpoint)
    err = capsys.readouterr().err
    assert f"cannot discover {target}" in err and ("is outside the project" in err or "leaves the project" in err)


def test_a_directory_granted_by_the_operator_may_be_discovered(project: Path, endpoint, other: Path) -> None:
    grant = f"version: 1\nfilesystem:\n  roots: [{other}]\nconnections: {{}}\n"
    (project / "osiris_connections.yaml").write_text(grant)
    _discover_then_answer(endpoint, str(other / "creds.csv"))
    assert chat("-m", "copy orders to parquet", "-y", "--tools", "on", "--samples", "1", "-o", "p.yaml") == 0
    sent = _sent(endpoint)
    # granted: the policy is the operator's, not a blanket ban
    assert "creds.csv (1 rows): user string, password string" in sent and "cannot discover" not in sent


@pytest.mark.parametrize("flag", ["--out", "--session-dir"])
@pytest.mark.parametrize("where", ["../outside.yaml", "/tmp/osiris-outside/x.yaml", "data/../../outside.yaml"])
def test_out_and_session_dir_outside_the_project_are_refused(project: Path, endpoint, flag: str, where: str,
                                                             capsys) -> None:
    assert chat("-m", "copy data/orders.csv to parquet", "-y", "--tools", "off", "--no-discovery", flag, where) == 2
    err = capsys.readouterr().err
    assert f"{flag}: path" in err and "project" in err
    assert endpoint.server.requests == []  # refused before the model was asked
    assert not (project.parent / "outside.yaml").exists() and not Path("/tmp/osiris-outside").exists()


def test_out_through_a_link_that_leads_out_is_refused(project: Path, endpoint, tmp_path_factory, capsys) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (project / "exports").symlink_to(elsewhere)
    assert chat("-m", "copy data/orders.csv to parquet", "-y", "--tools", "off", "--no-discovery",
                "--out", "exports/p.yaml") == 2
    assert "symbolic link" in capsys.readouterr().err and not list(elsewhere.iterdir())


def test_a_saved_session_cannot_redirect_the_output_out_of_the_project(project: Path, endpoint, capsys) -> None:
    session = ChatSession.create(project / ".osiris" / "chat")
    for event in ("start", "intent", "no_schema", "drafted", "valid"):
        session.fire(event)
    session.data.intent, session.data.oml, session.data.valid_oml = "copy", GOOD_OML, GOOD_OML
    session.data.out = "../stolen.yaml"  # an edited state.json
    session.save()
    assert chat("--resume", session.id, "-y") == 1
    assert "cannot write the pipeline" in capsys.readouterr().err
    assert not (project.parent / "stolen.yaml").exists()


BAD_OML = GOOD_OML.replace(
    "component: filesystem.parquet_writer", "component: filesystem.csv_writer"
).replace("path: out/orders.parquet", "path: ../../../x.csv")


def test_a_model_written_writer_path_out_of_the_project_is_repaired_not_written(project: Path, endpoint) -> None:
    outside = (project / "../../../x.csv").resolve()
    assert not outside.exists()
    endpoint.server.add(yaml_reply(BAD_OML), yaml_reply(BAD_OML), yaml_reply(GOOD_OML))
    assert chat("-m", "copy data/orders.csv to csv", "-y", "--tools", "off", "--no-discovery",
                "-o", "p.yaml", "--run", "--max-repairs", "3") == 0
    requests = endpoint.server.completions
    assert len(requests) == 3  # two repair rounds, each quoting the compiler's refusal
    assert "OML083" in requests[1].text_of_messages() and "leaves the project" in requests[1].text_of_messages()
    assert not outside.exists()
    assert (project / "out" / "orders.parquet").exists()  # the repaired pipeline ran, inside


def test_a_model_that_insists_on_writing_outside_gets_nothing_written(project: Path, endpoint, capsys) -> None:
    outside = (project / "../../../x.csv").resolve()
    endpoint.server.add(*[yaml_reply(BAD_OML)] * 3)
    assert chat("-m", "copy data/orders.csv to csv", "-y", "--tools", "off", "--no-discovery",
                "-o", "p.yaml", "--run", "--max-repairs", "2") == 1
    assert "OML083" in capsys.readouterr().err
    assert not outside.exists() and not (project / "p.yaml").exists()
    state = json.loads(next((project / ".osiris" / "chat").glob("*/state.json")).read_text())
    assert state["outcome"] == "invalid" and state["valid_oml"] is None
