"""`osiris mcp` (issue 14, items 1-3): each tool answers what the matching command prints as
JSON, through the SDK's own client (in-process, over stdio and over streamable HTTP); no tool
reaches a secret or a path outside the project."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from osiris.cli.mcp_server import build_server

SECRET = "pw-8c1f0e-not-for-any-answer"
PIPELINE = """oml_version: "0.1.0"
name: small
steps:
  - id: read
    component: filesystem.csv_extractor
    mode: read
    config:
      path: data/in.csv
  - id: write
    component: filesystem.csv_writer
    mode: write
    needs: [read]
    config:
      path: out/copy.csv
"""


@pytest.fixture
def project(tmp_path: Path, postgres_db: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder inside this test's own tmp_path (whose other files are outside it)."""
    import psycopg

    tmp_path = tmp_path / "project"
    tmp_path.mkdir()

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS mcp_orders (id bigint PRIMARY KEY, amount numeric(12,2), note text)")
    (tmp_path / "osiris.yaml").write_text("version: 1\n")
    (tmp_path / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  postgres:\n    local:\n      host: 127.0.0.1\n      port: 5432\n"
        f"      database: {postgres_db['database']}\n      user: postgres\n"
        "      password: ${OSIRIS_MCP_TEST_PASSWORD}\n      default: true\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.csv").write_text("id,name\n1,a\n2,b\n")
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    (tmp_path / "broken.yaml").write_text(PIPELINE.replace("csv_writer", "csv_writr"))
    monkeypatch.setenv("OSIRIS_MCP_TEST_PASSWORD", SECRET)
    return tmp_path


def _cli(project: Path, *argv: str) -> Any:  # noqa: ANN401
    program = "osiris.cli.omlc" if argv[0] in ("check", "explain") else "osiris.cli.osiris"
    done = subprocess.run([sys.executable, "-m", program, *argv], cwd=project, capture_output=True, text=True,
                          timeout=120, check=False)
    return json.loads(done.stdout)


def _answer(result: Any) -> Any:  # noqa: ANN401 - a CallToolResult
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


async def _calls(client: Client, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    return [await client.call_tool(name, arguments) for name, arguments in calls]


def _in_process(project: Path, calls: list[tuple[str, dict[str, Any]]], **options: Any) -> list[Any]:  # noqa: ANN401
    async def go() -> list[Any]:
        async with Client(build_server(project, **options)) as client:
            return await _calls(client, calls)
    return anyio.run(go)


@pytest.mark.postgres
def test_each_tool_answers_what_its_command_prints(project: Path) -> None:
    calls = [("list_components", {}), ("describe_component", {"name": "postgres.writer"}),
             ("check", {"path": "pipeline.yaml"}), ("check", {"path": "broken.yaml"}),
             ("explain", {"code": "OML031"}),
             ("discover", {"target": "@postgres.local", "tables": ["mcp_orders"]})]
    answers = [_answer(r) for r in _in_process(project, calls)]
    assert answers[0]["components"] == _cli(project, "components", "list", "--json")
    assert answers[1] == _cli(project, "components", "show", "postgres.writer", "--json")
    assert answers[2] == _cli(project, "check", "pipeline.yaml", "--format", "json")
    assert answers[3] == _cli(project, "check", "broken.yaml", "--format", "json")
    assert answers[3]["files"][0]["diagnostics"][0]["code"] == "OML040"
    assert answers[4] == _cli(project, "explain", "OML031", "--json")
    discovered = _cli(project, "discover", "@postgres.local", "--tables", "mcp_orders", "--json")
    assert {k: v for k, v in answers[5].items() if k != "cached"} == {k: v for k, v in discovered.items()
                                                                       if k != "cached"}
    assert [c["name"] for c in answers[5]["tables"][0]["columns"]] == ["id", "amount", "note"]


@pytest.mark.postgres
def test_compile_gives_the_files_omlc_writes(project: Path) -> None:
    subprocess.run([sys.executable, "-m", "osiris.cli.omlc", "compile", "pipeline.yaml", "--out", "by-cli"],
                   cwd=project, check=True, capture_output=True)
    [result] = _in_process(project, [("compile", {"path": "pipeline.yaml", "out": "by-mcp"})])
    answer = _answer(result)
    on_disk = {str(p.relative_to(project / "by-cli")): p.read_text() for p in (project / "by-cli").rglob("*")
               if p.is_file()}
    assert answer["ok"] and answer["files"] == on_disk and answer["written"] == "by-mcp"
    assert {str(p.relative_to(project / "by-mcp")) for p in (project / "by-mcp").rglob("*") if p.is_file()} \
        == set(on_disk)


@pytest.mark.postgres
def test_connections_are_aliases_and_families_only_and_no_answer_holds_a_secret(project: Path) -> None:
    from osiris.compiler.spec_cache import default_registry

    names = sorted(default_registry().components)
    calls = [("list_connections", {}), ("discover", {"target": "@postgres.local"}),
             ("check", {"oml": PIPELINE.replace("data/in.csv", SECRET)}),
             *[("example", {"component": name}) for name in names]]
    results = _in_process(project, calls)
    assert _answer(results[0]) == {"connections": [{"ref": "@postgres.local", "family": "postgres",
                                                    "alias": "local", "default": True}]}
    assert _answer(results[1])["tables"]  # discovery did connect, with the password
    for result in results:
        text = "".join(getattr(item, "text", "") for item in result.content)
        assert SECRET not in text


@pytest.mark.postgres
def test_every_components_example_checks(project: Path) -> None:
    from osiris.compiler.spec_cache import default_registry

    names = sorted(default_registry().components)
    examples = _in_process(project, [("example", {"component": name}) for name in names])
    texts = [result.content[0].text for result in examples]
    checks = _in_process(project, [("check", {"oml": text}) for text in texts])
    for name, text, result in zip(names, texts, checks, strict=True):
        errors = [d for d in _answer(result)["files"][0]["diagnostics"] if d["severity"] == "error"
                  and d["code"] not in ("OML071", "OML072")]  # the alias `main` is the user's to create
        assert errors == [], (name, text, errors)
        assert f"component: {name}" in text


@pytest.mark.postgres
@pytest.mark.parametrize("path", ["../outside.yaml", "/etc/passwd", "link/x.yaml", "s3://bucket/p.yaml"])
def test_paths_outside_the_project_are_refused(project: Path, path: str) -> None:
    (project.parent / "outside.yaml").write_text(PIPELINE)
    (project / "link").symlink_to(project.parent)
    (project.parent / "x.yaml").write_text(PIPELINE)
    results = _in_process(project, [("check", {"path": path}), ("compile", {"oml": PIPELINE, "out": path}),
                                    ("run", {"path": path})], allow_run=True)
    for result in results:
        assert result.is_error
        text = result.content[0].text
        assert "OML08" in text and "Traceback" not in text


@pytest.mark.postgres
@pytest.mark.parametrize("out", [".", "data"])
def test_compile_never_replaces_a_directory_that_is_not_its_output(project: Path, out: str) -> None:
    [result] = _in_process(project, [("compile", {"path": "pipeline.yaml", "out": out})])
    assert result.is_error and "OML091" in result.content[0].text
    assert (project / "data" / "in.csv").is_file() and (project / "pipeline.yaml").is_file()


@pytest.mark.postgres
def test_run_is_offered_only_with_allow_run(project: Path) -> None:
    async def names(**options: Any) -> set[str]:  # noqa: ANN401
        async with Client(build_server(project, **options)) as client:
            return {tool.name for tool in (await client.list_tools()).tools}
    assert "run" not in anyio.run(names)
    assert "run" in anyio.run(lambda: names(allow_run=True))
    [result] = _in_process(project, [("run", {"path": "pipeline.yaml"})], allow_run=True)
    status = _answer(result)
    assert status["ok"] and (project / "out" / "copy.csv").read_text().splitlines()[1:] == ['1,"a"', '2,"b"']


@pytest.mark.postgres
def test_resources_are_the_schema_and_the_language_guide(project: Path) -> None:
    from osiris.compiler.jsonschema_export import oml_json_schema

    async def go() -> tuple[Any, Any]:
        async with Client(build_server(project)) as client:
            return (await client.read_resource("osiris://schema/oml"),
                    await client.read_resource("osiris://docs/language"))
    schema, guide = anyio.run(go)
    assert json.loads(schema.contents[0].text) == json.loads(json.dumps(oml_json_schema()))
    assert guide.contents[0].text.startswith("#")


@pytest.mark.postgres
def test_over_stdio_the_answers_are_the_same(project: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "osiris.cli.osiris", "mcp"], cwd=str(project),
                                   env={**os.environ})

    async def go() -> list[Any]:
        async with Client(params) as client:
            return await _calls(client, [("check", {"path": "broken.yaml"}), ("list_connections", {})])
    over_stdio = [_answer(r) for r in anyio.run(go)]
    in_process = [_answer(r) for r in _in_process(project, [("check", {"path": "broken.yaml"}),
                                                            ("list_connections", {})])]
    assert over_stdio == in_process


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.postgres
def test_streamable_http_needs_the_token_it_was_given(project: Path) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    port = _free_port()
    env = {**os.environ, "OSIRIS_MCP_TOKEN": "t0ken-for-this-test"}
    server = subprocess.Popen([sys.executable, "-m", "osiris.cli.osiris", "mcp", "--transport", "http",
                               "--port", str(port)], cwd=project, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        for _ in range(100):
            try:
                refused = httpx2.post(url, json={})
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        assert refused.status_code == 401

        async def go(token: str) -> set[str]:
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http, \
                    Client(streamable_http_client(url, http_client=http)) as client:
                return {tool.name for tool in (await client.list_tools()).tools}
        assert "check" in anyio.run(go, "t0ken-for-this-test")
        assert httpx2.post(url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_non_loopback_address_without_a_token_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OSIRIS_MCP_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "mcp", "--transport", "http", "--host",
                           "0.0.0.0"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "OSIRIS_MCP_TOKEN" in done.stderr and "Traceback" not in done.stderr
