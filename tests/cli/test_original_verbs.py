"""The original Osiris's verbs: `osiris compile`, `osiris oml validate`, `osiris test validation`,
`osiris logs bundle`."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from osiris.cli import omlc, osiris

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "pipeline.yaml"
SCENARIOS = REPO / "examples" / "chat-scenarios"


def test_osiris_compile_writes_what_omlc_compile_writes(tmp_path, capsys) -> None:
    assert omlc.main(["compile", str(QUICKSTART), "--out", str(tmp_path / "a")]) == 0
    assert osiris.main(["compile", str(QUICKSTART), "--out", str(tmp_path / "b")]) == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert "compiled" in capsys.readouterr().err


def test_osiris_oml_validate_reports_like_omlc_check(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("mode: read", "mode: reed", 1))
    assert omlc.main(["check", str(bad), "--format", "json"]) == 1
    expected = capsys.readouterr().out
    assert osiris.main(["oml", "validate", str(bad), "--format", "json"]) == 1
    assert capsys.readouterr().out == expected
    assert "reed" in expected
    assert osiris.main(["oml", "validate", str(QUICKSTART)]) == 0


def test_test_validation_passes_the_shipped_scenarios(capsys) -> None:
    assert osiris.main(["test", "validation", str(SCENARIOS), "--json"]) == 0
    outcomes = {o["name"]: o for o in json.loads(capsys.readouterr().out)}
    assert outcomes["repair-unknown-key"]["repair_rounds"] == 1 and outcomes["repair-unknown-key"]["valid"]
    assert outcomes["valid-first-reply"]["repair_rounds"] == 0
    assert not outcomes["gives-up-after-repairs"]["valid"]
    assert all(o["passed"] for o in outcomes.values())


def test_test_validation_fails_when_the_chat_does_not_meet_the_expectation(tmp_path, capsys) -> None:
    text = (SCENARIOS / "repair-unknown-key.yaml").read_text().replace("repair_rounds: 1", "repair_rounds: 0")
    (tmp_path / "wrong.yaml").write_text(text)
    assert osiris.main(["test", "validation", str(tmp_path / "wrong.yaml")]) == 1
    out = capsys.readouterr().out
    assert "FAIL  wrong  (expected repair_rounds 0, got 1)" in out and "0/1 scenarios passed" in out


@pytest.mark.parametrize(("content", "message"), [
    ("request: x\nreplies: [a]\nexpect: {valid: true}\nreplys: []\n", "did you mean 'replies'?"),
    ("request: x\nreplies: []\nexpect: {valid: true}\n", "'replies' must be"),
    ("request: x\nreplies: [a]\nexpect: {rows: 3}\n", "'expect' must map"),
    (": : :\n", "cannot read"),
])
def test_test_validation_refuses_a_bad_scenario_file_exit_2(tmp_path, capsys, content, message) -> None:
    (tmp_path / "s.yaml").write_text(content)
    assert osiris.main(["test", "validation", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with one finished run, plus a log line holding secrets, a binary file and a link."""
    assert osiris.main(["init", str(tmp_path)]) == 0
    monkeypatch.chdir(tmp_path)
    assert osiris.main(["run", "pipeline.yaml", "--quiet"]) == 0
    [run] = (tmp_path / ".osiris" / "sessions").iterdir()
    (run / "notes.log").write_text("connect password=hunter2-plain and token BUNDLE-SECRET-42\n"
                                   "then with plainvalue-77 as given\n")
    (tmp_path / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  mysql:\n    shop:\n      host: 127.0.0.1\n      database: shop\n"
        "      user: reader\n      password: ${BUNDLE_VALUE}\n")
    monkeypatch.setenv("BUNDLE_VALUE", "plainvalue-77")  # a name that does not look like a credential
    (run / "blob.bin").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "outside.txt").write_text("outside the session")
    (run / "link.txt").symlink_to(tmp_path / "outside.txt")
    monkeypatch.setenv("BUNDLE_API_TOKEN", "BUNDLE-SECRET-42")
    return run


def test_logs_bundle_zips_the_session_with_secrets_masked(session: Path, capsys) -> None:
    assert osiris.main(["logs", "bundle", "last", "-o", "run.zip", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["session_id"] == session.name and report["left_out"] == ["blob.bin"]
    with zipfile.ZipFile("run.zip") as archive:
        names = archive.namelist()
        body = b"".join(archive.read(n) for n in names)
    assert f"{session.name}/status.json" in names and f"{session.name}/events.jsonl" in names
    assert f"{session.name}/notes.log" in names and f"{session.name}/link.txt" not in names
    assert b"hunter2-plain" not in body and b"BUNDLE-SECRET-42" not in body and b"outside the session" not in body
    assert b"plainvalue-77" not in body and b"then with *** as given" in body  # the connections file's secret


def test_logs_bundle_never_overwrites_and_leaves_nothing_half_written(session: Path, capsys) -> None:
    Path("run.zip").write_text("precious")
    assert osiris.main(["logs", "bundle", "last", "-o", "run.zip"]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert Path("run.zip").read_text() == "precious"
    assert osiris.main(["logs", "bundle", "nonesuch", "-o", "other.zip"]) == 2
    assert not Path("other.zip").exists()
    os.mkdir("ro")
    os.chmod("ro", 0o500)
    try:
        code = osiris.main(["logs", "bundle", "last", "-o", "ro/run.zip"])
    finally:
        os.chmod("ro", 0o700)
    if os.geteuid() != 0:  # root writes anywhere
        assert code == 1 and "cannot write" in capsys.readouterr().err
    assert [p.name for p in Path("ro").iterdir()] in ([], ["run.zip"])
    assert not [p for p in Path(".").rglob("*.part")]
