"""The path policy's rule at its edges, in process (compiler/path_policy.py).

The attacks themselves run end to end in test_paths_stay_in_project.py; these pin every
boundary of the rule (exact limits, the root itself, look-alike siblings, `..` that lands on
the root, links to and from a root) so that any change to it fails a fast test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from osiris.compiler.path_policy import (
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    UNKNOWN_BASE,
    PathRefused,
    check_path,
    confine_path,
    confine_real,
    path_roots,
    shown_path,
    step_roots,
    text_problem,
)

ROOT = "/srv/project"
ROOTS = path_roots(ROOT, ["/data/exports"])


def _code(path: str, roots: tuple[str, ...] = ROOTS, base: str | None = None) -> str | None:
    problem = check_path(path, roots, base)
    return problem.code if problem is not None else None


@pytest.mark.parametrize(("path", "code"), [
    ("data/x.csv", None),
    ("./data/../x.csv", None),
    (".", None),                                  # the root itself
    ("data/..", None),
    ("..", "OML083"),
    ("../project/x.csv", None),                  # climbs out and back in: the same place
    ("../project-old/x.csv", "OML083"),          # a sibling whose name starts with the root's
    ("/srv/project", None),
    ("/srv/project/x.csv", None),
    ("/srv/projectx/x.csv", "OML083"),
    ("/srv/project/../x.csv", "OML083"),
    ("/data/exports/a/b.parquet", None),         # an operator root
    ("/data/exports", None),
    ("/data/exports-old/x", "OML083"),
    ("/data", "OML083"),
    ("//srv/project/x.csv", None),
    ("/etc/passwd", "OML083"),
    ("~/x.csv", "OML083"),
])
def test_inside_means_the_root_or_below_it(path: str, code: str | None) -> None:
    assert _code(path) == code


def test_messages_say_how_the_path_leaves() -> None:
    assert check_path("../x", ROOTS).message == "path '../x' leaves the project"
    assert check_path("/etc/x", ROOTS).message == "path '/etc/x' is outside the project"
    assert check_path("~/x", ROOTS).message == "path '~/x' is outside the project"
    assert "filesystem: roots:" in check_path("../x", ROOTS).hint


def test_the_filesystem_root_as_a_root_holds_everything() -> None:
    assert _code("/etc/passwd", path_roots("/")) is None


def test_relative_paths_resolve_against_the_base_and_stay_in_some_root() -> None:
    roots = path_roots(ROOT, base_dir="/srv/lake")
    assert roots == ("/srv/project", "/srv/lake")
    assert _code("x.csv", roots, "/srv/lake") is None
    assert _code("../lake/x.csv", roots, "/srv/lake") is None
    assert _code("../project/x.csv", roots, "/srv/lake") is None   # the project root is a root too
    assert _code("../other/x.csv", roots, "/srv/lake") == "OML083"


def test_relative_operator_roots_and_base_dirs_resolve_against_the_project() -> None:
    assert path_roots("/srv/project", ["shared", "../common", "~/x"], "lake") == (
        "/srv/project", "/srv/project/lake", "/srv/project/shared", "/srv/common", os.path.expanduser("~/x"))
    assert path_roots("/srv/project", ["."]) == ("/srv/project",)


def test_an_unresolvable_base_dir_still_refuses_climbing_out() -> None:
    roots = (ROOT, UNKNOWN_BASE)
    assert _code("x.csv", roots, UNKNOWN_BASE) is None
    assert _code("../x.csv", roots, UNKNOWN_BASE) == "OML083"


@pytest.mark.parametrize(("path", "problem"), [
    ("a" * MAX_NAME_BYTES, None),
    ("a" * (MAX_NAME_BYTES + 1), "256-byte file or directory name"),
    ("é" * 128, "256-byte"),                      # bytes, not characters
    ("d/" + "a" * MAX_NAME_BYTES, None),
    ("/".join(["a" * 200] * 21)[:MAX_PATH_BYTES], None),   # exactly the limit
    ("/".join(["a" * 200] * 21)[:MAX_PATH_BYTES + 1], "4096 bytes long (at most 4095)"),
    ("a\x00b", "holds a NUL byte"),
    ("\udcff" * 85, None),                      # a lone surrogate is 3 bytes (surrogatepass)
    ("\udcff" * 86, "258-byte file or directory name"),
    ("d/" + "\udcff" * 1365, "4097 bytes long (at most 4095)"),
    ("", None),
])
def test_unusable_text(path: str, problem: str | None) -> None:
    found = text_problem(path)
    assert (found.message if found else None) == problem or (problem and problem in found.message)
    if found is not None:
        assert found.code == "OML084"


def test_a_path_too_long_once_joined_is_unusable_but_one_byte_less_is_not() -> None:
    room = MAX_PATH_BYTES - len(ROOT) - 1
    fits = "/".join(["a" * 100] * 50)[:room]
    assert not fits.endswith("/")
    assert _code(fits) is None
    assert _code(fits + "b") == "OML084"
    problem = check_path(fits + "b", ROOTS)
    assert problem.message.endswith("is 4096 bytes long once resolved (at most 4095)")
    assert problem.hint == "use a shorter path"


def test_shown_paths_are_escaped_and_shortened() -> None:
    assert shown_path("data/x.csv") == "data/x.csv"
    assert shown_path("a\x00b\n") == "a\\x00b\\n"
    long = shown_path("x" * 200)
    assert len(long) == 80 and long.startswith("x" * 40) and "..." in long and long.endswith("x" * 37)
    assert shown_path("y" * 80) == "y" * 80
    assert shown_path("z" * 81) == "z" * 40 + "..." + "z" * 37        # one over the limit is cut
    assert shown_path("données\\é.csv") == "données\\é.csv"          # printable: shown as written
    assert shown_path("a\udcff") == "a\\udcff"                         # a lone surrogate is escaped too


def test_confine_resolves_links_and_returns_the_real_path(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "data").mkdir(parents=True)
    outside.mkdir()
    (outside / "s.csv").write_text("x")
    (project / "data" / "in.csv").write_text("x")
    (project / "data" / "out.csv").symlink_to(outside / "s.csv")
    (project / "data" / "same.csv").symlink_to(project / "data" / "in.csv")
    (project / "up").symlink_to(tmp_path, target_is_directory=True)
    roots = path_roots(project)
    assert confine_path("data/same.csv", roots) == project / "data" / "in.csv"
    assert confine_path("data/new.csv", roots) == project / "data" / "new.csv"   # need not exist
    for path in ("data/out.csv", "up/outside/s.csv", "up/project/../outside/s.csv"):
        with pytest.raises(PathRefused) as caught:
            confine_path(path, roots)
        assert caught.value.code == "OML083" and "through a symbolic link" in str(caught.value)
    with pytest.raises(PathRefused, match="leaves the project") as caught:
        confine_path("../outside/s.csv", roots)
    assert caught.value.hint == check_path("../x", roots).hint
    assert confine_path("up/project/data/in.csv", roots) == project / "data" / "in.csv"  # out and back in


def test_a_root_that_is_itself_a_link_works(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    roots = path_roots(tmp_path / "alias")
    assert confine_path("x.csv", roots) == real / "x.csv"
    assert confine_real(real / "x.csv", "x.csv", roots) == real / "x.csv"
    with pytest.raises(PathRefused, match="'x.csv' resolves outside"):
        confine_real(tmp_path / "x.csv", "x.csv", roots)


def test_confine_refuses_unusable_paths_before_any_system_call(tmp_path: Path) -> None:
    roots = path_roots(tmp_path)
    for path in ("a\x00b", "n" * 256, "d/" * 2048):
        with pytest.raises(PathRefused) as caught:
            confine_path(path, roots)
        assert caught.value.code == "OML084"


def test_step_roots_add_the_filesystem_alias_base_dir(tmp_path: Path) -> None:
    from osiris.compiler.connections import load_connections
    from osiris.compiler.spec_cache import default_registry
    from osiris.oml.diagnostics import Diagnostics

    file = tmp_path / "c.yaml"
    file.write_text("version: 1\nfilesystem: {roots: [/data/x]}\nconnections:\n  filesystem:\n"
                    "    lake: {base_dir: lake}\n    env: {base_dir: '${LAKE_DIR}'}\n    none: {}\n"
                    "  mysql:\n    db: {database: d, user: u}\n", encoding="utf-8")
    conns = load_connections(file, "c.yaml", default_registry(), Diagnostics())
    assert conns is not None and conns.roots == ("/data/x",)
    root = str(tmp_path)
    assert step_roots(root, conns, "@filesystem.lake") == ((root, f"{root}/lake", "/data/x"), f"{root}/lake")
    assert step_roots(root, conns, "@filesystem.env", {"LAKE_DIR": "/l"}) == ((root, "/l", "/data/x"), "/l")
    assert step_roots(root, conns, "@filesystem.env", {})[1] == UNKNOWN_BASE
    for ref in ("@filesystem.none", "@filesystem.ghost", "@mysql.db", None):
        assert step_roots(root, conns, ref) == ((root, "/data/x"), None)
    assert step_roots(root, None, "@filesystem.lake") == ((root,), None)


@pytest.mark.parametrize("text", [
    "filesystem: {roots: /data/x}",
    "filesystem: {roots: [/data/x], extra: 1}",
    "filesystem: [/data/x]",
    "filesystem: {roots: [[/a]]}",
    "filesystem: {roots: ['']}",
])
def test_a_malformed_roots_list_is_a_connections_file_error(tmp_path: Path, text: str) -> None:
    from osiris.compiler.connections import load_connections
    from osiris.compiler.spec_cache import default_registry
    from osiris.oml.diagnostics import Diagnostics

    file = tmp_path / "c.yaml"
    file.write_text(f"version: 1\n{text}\nconnections: {{}}\n", encoding="utf-8")
    d = Diagnostics()
    conns = load_connections(file, "c.yaml", default_registry(), d)
    assert [x.code for x in d.errors()] == ["OML074"] and x_line(d) == 2
    assert conns is None or conns.roots == ()


def x_line(d) -> int:  # noqa: ANN001
    return next(iter(d.errors())).span.line


def test_every_config_field_that_names_a_file_is_marked_x_path() -> None:
    """The policy confines the fields specs mark; a new component's file field must be marked too."""
    from osiris.compiler.spec_cache import default_registry

    unmarked = [
        (spec.name, key) for spec in default_registry().components.values() for key, prop in spec.properties.items()
        if (key in ("path", "file", "dir", "directory") or key.endswith(("_path", "_file", "_dir")))
        and not key.endswith("_per_file")  # a limit per file (max_rows_per_file), not a file
        and not (isinstance(prop, dict) and prop.get("x-path") in ("read", "write"))
    ]
    assert unmarked == []
    marked = {spec.name: spec.path_fields() for spec in default_registry().components.values() if spec.path_fields()}
    assert marked == {
        "filesystem.csv_extractor": {"path": "read"}, "filesystem.parquet_extractor": {"path": "read"},
        "filesystem.csv_writer": {"path": "write"}, "filesystem.parquet_writer": {"path": "write"},
    }


def test_two_leading_slashes_are_one_and_nothing_else_is_stripped() -> None:
    assert path_roots("//Xenial/project") == ("/Xenial/project",)
    assert _code("//Xenial/project/x.csv", path_roots("/Xenial/project")) is None


def test_a_relative_base_is_read_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery passes its `cwd` as the base; a relative one must not turn into a path below `/`."""
    monkeypatch.chdir(tmp_path)
    assert confine_path("x.csv", path_roots(tmp_path), ".") == tmp_path.resolve() / "x.csv"


def test_hidden_names_count_only_below_the_root_that_holds_the_path() -> None:
    roots = path_roots("/srv/project", ["/srv/project/.cache/shared", "/home/op/.local/data"])
    assert _code("/home/op/.local/data/x.csv", roots) is None           # a root under a hidden folder works
    assert _code(".cache/shared/x.csv", roots) is None                  # the longest root that holds it counts
    assert _code(".cache/x.csv", roots) == "OML085"
    assert _code("/home/op/.local/data/.env", roots) == "OML085"
    assert check_path(".cache/x.csv", roots).message == "path '.cache/x.csv' goes through the hidden name '.cache'"


def test_the_connections_file_by_name_or_by_the_path_in_use() -> None:
    protected = ("/srv/project/conf/secrets.yaml",)
    assert check_path("conf/OSIRIS_Connections.YML", ROOTS).code == "OML085"
    assert check_path("conf/secrets.yaml", ROOTS) is None
    problem = check_path("conf//secrets.yaml", ROOTS, protected=protected)
    assert problem.message == "path 'conf//secrets.yaml' is the connections file"
    assert check_path("conf/secrets.yaml.bak", ROOTS, protected=protected) is None


def test_an_operator_flag_may_name_a_hidden_folder_but_not_leave_the_roots() -> None:
    assert check_path(".osiris/chat", ROOTS).code == "OML085"
    assert check_path(".osiris/chat", ROOTS, hidden=True) is None
    assert check_path("../.osiris", ROOTS, hidden=True).code == "OML083"
    assert check_path("d/" * 2047, ROOTS, hidden=True).code == "OML084"


def _refused(path: str, roots: tuple[str, ...], **options: object) -> PathRefused:
    with pytest.raises(PathRefused) as caught:
        confine_path(path, roots, **options)
    return caught.value


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """data/ with links into .git and onto the connections file, and a hidden-named link to data/."""
    project = tmp_path / "project"
    for folder in ("data", ".git", "conf"):
        (project / folder).mkdir(parents=True)
    (project / ".git" / "config").write_text("x")
    (project / "conf" / "secrets.yaml").write_text("x")
    (project / "data" / "in.csv").write_text("x")
    (project / "data" / "gitlink").symlink_to(project / ".git" / "config")
    (project / "data" / "innocent.yaml").symlink_to(project / "conf" / "secrets.yaml")
    (project / ".cfg").symlink_to(project / "data", target_is_directory=True)
    return project


def test_run_time_refuses_hidden_names_as_written_and_as_resolved(project: Path) -> None:
    roots = path_roots(project)
    refused = _refused(".git/config", roots)
    assert refused.code == "OML085" and str(refused) == "path '.git/config' goes through the hidden name '.git'"
    assert str(_refused("data/gitlink", roots)) == "path 'data/gitlink' goes through the hidden name '.git'"
    assert str(_refused(".cfg/in.csv", roots)) == "path '.cfg/in.csv' goes through the hidden name '.cfg'"
    assert confine_path("data/in.csv", roots) == project / "data" / "in.csv"


def test_run_time_refuses_the_connections_file_in_use_under_any_name(project: Path) -> None:
    roots, protected = path_roots(project), [str(project / "conf" / "secrets.yaml")]
    for path in ("conf/secrets.yaml", "data/innocent.yaml"):
        assert str(_refused(path, roots, protected=protected)) == f"path '{path}' is the connections file"
    assert confine_path("data/innocent.yaml", roots) == project / "conf" / "secrets.yaml"   # not the one in use
    assert confine_path("data/in.csv", roots, protected=protected) == project / "data" / "in.csv"


def test_run_time_hidden_lets_an_operator_flag_through(project: Path) -> None:
    roots = path_roots(project)
    assert confine_path(".git/config", roots, hidden=True) == project / ".git" / "config"
    assert confine_path("data/gitlink", roots, hidden=True) == project / ".git" / "config"
    assert _refused("../x", roots, hidden=True).code == "OML083"


def test_a_root_under_a_hidden_folder_works_at_run_time(tmp_path: Path) -> None:
    real = tmp_path / ".hidden" / "real"
    real.mkdir(parents=True)
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    for roots in (path_roots(real), path_roots(tmp_path / "alias")):
        assert confine_path("x.csv", roots) == real / "x.csv"
        assert confine_path(str(real / "x.csv"), roots) == real / "x.csv"     # the real path, outside as written
        assert confine_real(real / "x.csv", "x.csv", roots) == real / "x.csv"
        assert _refused(".env", roots).code == "OML085"


def test_a_file_found_by_walking_is_refused_when_hidden_or_the_connections_file(project: Path) -> None:
    roots, protected = path_roots(project), [str(project / "conf" / "secrets.yaml")]
    with pytest.raises(PathRefused) as caught:
        confine_real(project / "data" / "gitlink", "data/gitlink", roots)
    assert caught.value.code == "OML085"
    assert str(caught.value) == "path 'data/gitlink' goes through the hidden name '.git'"
    with pytest.raises(PathRefused, match=r"^path 'data/innocent.yaml' is the connections file$"):
        confine_real(project / "data" / "innocent.yaml", "data/innocent.yaml", roots, protected)
    assert confine_real(project / "data" / "in.csv", "data/in.csv", roots, protected) == project / "data" / "in.csv"


def test_step_roots_edge_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """base_dir `.` is the project root itself; an empty one is no base; unset env reads os.environ."""
    from osiris.compiler.connections import load_connections
    from osiris.compiler.spec_cache import default_registry
    from osiris.oml.diagnostics import Diagnostics

    file = tmp_path / "c.yaml"
    file.write_text("version: 1\nconnections:\n  filesystem:\n    here: {base_dir: .}\n"
                    "    env: {base_dir: '${LAKE_DIR}'}\n", encoding="utf-8")
    conns = load_connections(file, "c.yaml", default_registry(), Diagnostics())
    root = str(tmp_path)
    assert step_roots(root, conns, "@filesystem.here") == ((root,), root)
    assert step_roots(root, conns, "@filesystem.env", {"LAKE_DIR": ""}) == ((root,), None)
    monkeypatch.setenv("LAKE_DIR", "/lake")
    assert step_roots(root, conns, "@filesystem.env") == ((root, "/lake"), "/lake")
