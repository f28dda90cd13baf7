"""An object-store URI is used only with a connection of its store's family, and only as a plain
`scheme://bucket/key` (compiler/path_policy.py `store_problem`): keys come from the alias, never
from the URI; every other URL stays refused (OML084)."""

from __future__ import annotations

import pytest

from osiris.compiler.path_policy import path_roots, step_path_problem, store_problem
from osiris.oml.secrets import has_signed_url


@pytest.mark.parametrize(("path", "connection"), [
    ("s3://lake/orders/", "@s3.lake"), ("S3://Lake/x.parquet", "@s3.eu"), ("gs://bkt/a/b.csv", "@gcs.wh"),
    ("az://container/x/", "@azure.exports"), ("s3://lake/orders/*/part-*.parquet", "@s3.lake"),
])
def test_a_uri_with_its_stores_connection_is_accepted(path: str, connection: str) -> None:
    assert store_problem(path, connection) is None


@pytest.mark.parametrize(("path", "connection", "code"), [
    ("s3://lake/x", None, "OML086"),
    ("s3://lake/x", "@gcs.lake", "OML086"),
    ("gs://lake/x", "@filesystem.local", "OML086"),
    ("az://c/x", "@s3.lake", "OML086"),
    ("s3:///x", "@s3.lake", "OML084"),                       # no bucket
    ("s3://key:secret@lake/x", "@s3.lake", "OML084"),        # user info
    ("s3://lake/x?versionId=3", "@s3.lake", "OML084"),       # a query
    ("s3://lake/x#frag", "@s3.lake", "OML084"),
    ("s3://lake/a/../victim/", "@s3.lake", "OML084"),        # a key segment stores do not resolve
    ("gs://lake/./x.parquet", "@gcs.lake", "OML084"),
    ("az://lake/a//x.parquet", "@azure.lake", "OML084"),     # an empty segment
    ("s3://lake/a/..", "@s3.lake", "OML084"),
])
def test_a_uri_without_its_connection_or_with_extras_is_refused(path: str, connection: str | None,
                                                                code: str) -> None:
    problem = store_problem(path, connection)
    assert problem is not None and problem.code == code


@pytest.mark.parametrize("url", ["https://host/x.csv", "file:///etc/passwd", "ftp://h/x", "hdfs://n/x"])
def test_other_urls_stay_refused_even_with_a_store_connection(url: str, tmp_path) -> None:  # noqa: ANN001
    problem = step_path_problem(url, "@s3.lake", path_roots(tmp_path))
    assert problem is not None and problem.code == "OML084"


@pytest.mark.parametrize(("text", "signed"), [
    ("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Signature=abc", True),
    ("https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIA&Expires=1&Signature=x", True),
    ("https://acct.blob.core.windows.net/c/k?sv=2024&sig=abc", True),
    ("https://storage.googleapis.com/b/k?X-Goog-Signature=abc", True),
    ("s3://lake/orders/part-0.parquet", False),
    ("https://example.com/?page=2", False),
])
def test_signed_urls_are_recognised(text: str, signed: bool) -> None:
    assert has_signed_url(text) is signed
