"""omlc's shortcut past the settings model gives what load_project gives, and steps aside otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from osiris.cli.project import command_line_only, load_project


@pytest.mark.parametrize("given", [None, "conns.yaml", "sub/../conns.yaml", "/abs/conns.yaml"])
def test_same_root_and_connections_as_load_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    given: str | None) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text("steps: []\n")
    quick = command_line_only(Path("p.yaml"), given, env={})
    project = load_project(Path("p.yaml"), env={}, cli={"connections": given})
    assert quick is not None and quick.root == project.root
    expected = None if project.resolved.sources["connections"] == "default" else project.path("connections")
    assert quick.connections == expected


def test_an_osiris_yaml_or_a_setting_in_the_environment_means_load_project(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert command_line_only(Path("sub"), None, env={"OSIRIS_STEP_MEMORY": "lots"}) is None
    assert command_line_only(Path("sub"), None, env={"OSIRIS_STEP_MEMORY": "  "}) is not None
    (tmp_path / "osiris.yaml").write_text("connections: c.yaml\n")
    assert command_line_only(Path("sub"), None, env={}) is None
