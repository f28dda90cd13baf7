"""Connections resolve from the pieces parsed at load time: environment references are found once,
defaults and missing variables applied at resolution, secret fields known per family."""

from __future__ import annotations

from pathlib import Path

from osiris.compiler.connections import load_connections
from osiris.compiler.spec_cache import default_registry
from osiris.oml.diagnostics import Diagnostics

CONNECTIONS = """\
version: 1
connections:
  mysql:
    shop:
      host: ${DB_HOST:-localhost}
      database: shop
      user: reader
      password: pre-${MYSQL_PASSWORD}-post
      default: true
"""


def test_connections_resolve_from_parsed_pieces(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONNECTIONS)
    d = Diagnostics()
    conns = load_connections(path, "c.yaml", default_registry(), d)
    assert conns is not None and not d.has_errors, list(d)
    decl = conns.lookup("mysql", "shop")
    assert decl is not None
    assert sorted(decl.env_refs) == ["host", "password"]
    assert [r.name for r in decl.env_refs["password"]] == ["MYSQL_PASSWORD"]
    fields, missing = conns.values("mysql", "shop", {"MYSQL_PASSWORD": "s3cret"})
    assert fields["host"] == "localhost"
    assert fields["password"] == "pre-s3cret-post"
    assert fields["database"] == "shop" and missing == ()
    secret_fields, _, _ = conns.rules("mysql", "shop")
    assert "password" in secret_fields
    assert conns.secret_fields["mysql"] == secret_fields
    fields, missing = conns.values("mysql", "shop", {})
    assert missing == ("MYSQL_PASSWORD",) and fields["password"] == "pre--post"
