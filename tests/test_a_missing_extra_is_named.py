"""A library an extra brings that is missing is named with its extra, never an ImportError: the CLIs'
guard message (cli/extras.py) and the driver registry ("not installed: needs extra X") read one
table, runtime/extras.py, which must say what pyproject.toml's extras install."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from osiris.cli.extras import ExtraMissing, missing_extra, require_extra
from osiris.runtime.driver import DriverError
from osiris.runtime.extras import DRIVER_EXTRAS, EXTRA_MODULES, INCLUDES
from osiris.runtime.registry import DriverRegistry

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SELF = re.compile(r"^osiris-oml\[([a-z0-9,]+)\]$")


def _module(requirement: str) -> str:
    """`psycopg[binary]>=3.2,<4` -> psycopg; `adbc-driver-postgresql>=1` -> adbc_driver_postgresql."""
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("-", "_").replace(".", "_")


def test_the_table_lists_every_library_each_extra_brings() -> None:
    extras = {name: reqs for name, reqs in PROJECT["optional-dependencies"].items() if name not in ("all", "dev")}
    assert set(extras) == set(EXTRA_MODULES)
    for name, requirements in extras.items():
        own = [_module(r) for r in requirements if not SELF.match(r)]
        included = [extra for r in requirements if (m := SELF.match(r)) for extra in m.group(1).split(",")]
        assert set(own) <= set(EXTRA_MODULES[name]), name
        assert tuple(included) == INCLUDES.get(name, ()), name
    assert PROJECT["optional-dependencies"]["all"] == [f"osiris-oml[{','.join(extras)}]"]
    assert set(DRIVER_EXTRAS.values()) <= set(EXTRA_MODULES)


def test_the_core_install_brings_no_optional_library_and_no_boto3() -> None:
    core = {_module(r) for r in PROJECT["dependencies"]}
    optional = {m for modules in EXTRA_MODULES.values() for m in modules}
    assert not core & optional
    every = [*PROJECT["dependencies"], *(r for name, reqs in PROJECT["optional-dependencies"].items()
                                         if name != "dev" for r in reqs)]
    assert not any(_module(r) == "boto3" for r in every)


@pytest.mark.parametrize(("module", "extra"), [
    ("pyarrow", "run"), ("pyarrow.ipc", "run"), ("duckdb", "run"), ("pymysql", "mysql"),
    ("connectorx", "mysql"), ("psycopg", "postgres"), ("adbc_driver_postgresql", "postgres"),
    ("supabase", "supabase"), ("postgrest.exceptions", "supabase"), ("openai", "chat"), ("e2b", "e2b"),
])
def test_a_missing_optional_library_names_its_extra(module: str, extra: str) -> None:
    message = missing_extra(ModuleNotFoundError(f"No module named {module!r}", name=module))
    assert message is not None
    assert message.startswith(f"{module.partition('.')[0]} is not installed: this needs the extra [{extra}]")
    assert f"pip install 'osiris-oml[{extra}]'" in message


@pytest.mark.parametrize("module", ["yaml", "osiris.compiler.nowhere", "", None])
def test_another_missing_module_is_not_an_extra(module: str | None) -> None:
    assert missing_extra(ModuleNotFoundError("No module", name=module)) is None


def test_a_command_names_its_own_extra_before_any_library_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # as if `pip install osiris-oml` without [chat]
    with pytest.raises(ExtraMissing) as caught:
        require_extra("chat")
    assert caught.value.name == "openai" and caught.value.extra == "chat"
    assert "pip install 'osiris-oml[chat]'" in (missing_extra(caught.value) or "")
    require_extra("run")  # installed here: no error


def test_a_driver_whose_library_is_missing_is_not_installed_and_names_its_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pymysql", None)  # importing it now fails, as without [mysql]
    for name in [n for n in sys.modules if n.startswith("osiris.drivers.mysql")]:
        monkeypatch.delitem(sys.modules, name)
    registry = DriverRegistry()
    why = registry.unavailable("mysql.extractor")
    assert why == "not installed: needs extra mysql (pip install 'osiris-oml[mysql]')"
    assert not registry.installed("mysql.extractor") and registry.installed("filesystem.csv_writer")
    with pytest.raises(DriverError) as caught:
        registry.create("mysql.extractor")
    assert str(caught.value).startswith("the driver for mysql.extractor is not installed: needs extra mysql")
    assert caught.value.hint == "pip install 'osiris-oml[mysql]'"
    assert DriverRegistry().unavailable("no.such") == "not installed"


def test_backend_ray_without_the_ray_extra_is_a_usage_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    from osiris.cli.osiris import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if installed without [ray]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "osiris.yaml").write_text("version: 1\n", encoding="utf-8")
    pipeline = REPO / "examples" / "quickstart" / "pipeline.yaml"
    code = main(["run", str(pipeline), "--backend", "ray"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--backend ray needs the ray extra: pip install 'osiris-oml[ray]'" in err
    assert "Traceback" not in err and not (tmp_path / ".osiris").exists()  # refused before any session
