"""Every form a secret takes in a message is masked: registered values however they were escaped,
and credential-shaped text whatever its value (oml/secrets.py, the one masker every layer uses).

Each test names the form it proves; the bug it catches is the form left unmasked.
"""

from __future__ import annotations

import html
import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.oml.secrets import MASK, SecretMasker, is_credential_env, is_credential_key, mask_text, strip_userinfo


def _clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked in {text!r}"


# -- registered values, however they were written --


def test_a_percent_decoded_url_password_is_masked() -> None:
    masker = SecretMasker()
    masker.add_connection({"dsn": "postgresql://bob:P%40ss%2Fw0rd-7@db.example/sales"})
    # libpq and drivers echo the decoded password; logs echo the encoded one.
    text = masker.mask("auth failed for bob with P@ss/w0rd-7; dsn postgresql://bob:P%40ss%2Fw0rd-7@db/x")
    _clean(text, "P@ss/w0rd-7", "P%40ss%2Fw0rd-7", "w0rd-7")
    assert text.startswith("auth failed for bob with ***;")


def test_a_password_of_a_key_value_dsn_is_registered_whole() -> None:
    masker = SecretMasker()
    masker.add_connection({"dsn": "host=db user=bob password='se cret-99' dbname=x"})
    # the value alone, without its key, is masked too
    _clean(masker.mask("server said: 'se cret-99' is wrong"), "se cret-99", "cret-99")


# Each case pairs a secret with one way of writing it that no other form of that secret matches,
# so dropping (or truncating) any one form fails exactly its case. `escape` is that way, written
# out here independently of the masker; `context` is the text it appears in.
def _same(text: str) -> str:
    return text


ESCAPED = [
    pytest.param("a b/c-1", lambda s: quote(s, safe=""), _same, id="percent-encoded-component"),
    pytest.param("a b/c-1", quote, _same, id="percent-encoded-path"),
    pytest.param("a b/c-1", quote_plus, _same, id="form-encoded"),
    pytest.param("a b/c-1", lambda s: quote(s, safe="").lower(), _same, id="percent-encoded-lowercase-hex"),
    pytest.param('\u00e9"x-1', lambda s: json.dumps(s)[1:-1], lambda e: f'{{"m": "{e}"}}', id="json"),
    pytest.param('\u00e9"x-1', lambda s: json.dumps(s, ensure_ascii=False)[1:-1], lambda e: f'["{e}"]',
                 id="json-keeping-unicode"),
    pytest.param("x\ny-1", lambda s: json.dumps(json.dumps(s)[1:-1])[1:-1], lambda e: f'"{{\\"m\\": \\"{e}\\"}}"',
                 id="json-in-json"),
    pytest.param("\u00e9'b\"\n-1", lambda s: repr(s)[1:-1], lambda e: f"'{e}'", id="repr"),
    pytest.param("x'y\\z-1", lambda s: s.replace("\\", "\\\\").replace("'", "\\'"),
                 lambda e: f"'say \"hi\" {e}'", id="repr-inside-a-string-with-both-quotes"),
    pytest.param("\u00e9p-1", lambda s: repr(s.encode())[2:-1], lambda e: f"b'{e}'", id="repr-of-bytes"),
    pytest.param("\u00e9p-1", lambda s: s.encode("unicode_escape").decode(), _same, id="unicode-escape"),
    pytest.param("x'y-1", lambda s: s.replace("'", "''"), lambda e: f"WHERE p = '{e}'", id="sql-or-yaml-single-quoted"),
    pytest.param("a<b>&\"c'-1", html.escape, lambda e: f"<td>{e}</td>", id="html"),
]


@pytest.mark.parametrize(("secret", "escape", "context"), ESCAPED)
def test_an_escaped_secret_is_masked(secret: str, escape: object, context: object) -> None:
    escaped = escape(secret)  # type: ignore[operator]
    written = context(escaped)  # type: ignore[operator]
    assert secret not in written and escaped != secret  # the case really is escaped
    # exactly the escaped secret becomes ***: nothing of it left, nothing around it taken
    expected = written.replace(escaped, MASK)
    assert SecretMasker([secret]).mask(f"error: {written} (end)") == f"error: {expected} (end)"


def test_repr_of_a_secret_with_control_characters_is_masked() -> None:
    secret = "tab\there\x7fdel-9"
    masker = SecretMasker([secret])
    for written in (repr(secret), json.dumps(secret), repr([secret])):
        _clean(masker.mask(written), "here", "del-9")


def test_the_longer_of_two_nested_secrets_is_masked_whole() -> None:
    masker = SecretMasker(["abcd-1234", "abcd-1234-efgh-5678"])
    assert masker.mask("key abcd-1234-efgh-5678 and abcd-1234.") == f"key {MASK} and {MASK}."


def test_partly_overlapping_secrets_leave_no_tail() -> None:
    masker = SecretMasker(["xy-secret-1", "secret-1-zw"])
    assert masker.mask("[xy-secret-1-zw]") == f"[{MASK}]"


def test_a_short_secret_is_masked_only_as_a_whole_token() -> None:
    masker = SecretMasker(["ab1"])
    assert masker.mask("ab1 tab1e ab1") == f"{MASK} tab1e {MASK}"


# -- credential-shaped text, whatever the value --


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("password: hunter2-block", f"password: {MASK}", id="yaml-block"),
        pytest.param("    password: correct horse battery", f"    password: {MASK}", id="yaml-plain-with-spaces"),
        pytest.param("{user: bob, password: hunter2-flow}", f"{{user: bob, password: {MASK}}}", id="yaml-flow"),
        pytest.param("password: 'it''s-x'", f"password: '{MASK}'", id="yaml-single-quoted"),
        pytest.param('password: "a\\"b-x"', f'password: "{MASK}"', id="yaml-double-quoted"),
        pytest.param("db_password: x9-y", f"db_password: {MASK}", id="prefixed-key"),
        pytest.param('{"token": "tok-123", "user": "bob"}', f'{{"token": "{MASK}", "user": "bob"}}', id="json-token"),
        pytest.param("{'api_key': 'k-1', 'n': 1}", f"{{'api_key': '{MASK}', 'n': 1}}", id="python-repr"),
        pytest.param("host=db password=s3cr3t dbname=x", f"host=db password={MASK} dbname=x", id="dsn"),
        pytest.param("host=db password='a b c' dbname=x", f"host=db password='{MASK}' dbname=x", id="dsn-quoted"),
        pytest.param("https://h/x?api_key=abc&y=1", f"https://h/x?api_key={MASK}&y=1", id="query-string"),
        pytest.param("PGPASSWORD=pg-pw-1 psql", f"PGPASSWORD={MASK} psql", id="env-assignment"),
        pytest.param("Authorization: Bearer sk-abcdefghij", f"Authorization: {MASK}", id="header"),
        pytest.param("sent Bearer sk-abcdefghij0", f"sent Bearer {MASK}", id="bearer"),
        pytest.param("key: eyJhbGciOi.x", f"key: {MASK}", id="supabase-key"),
        pytest.param("postgresql://u:pw-1@h:5432/db", f"postgresql://u:{MASK}@h:5432/db", id="url-userinfo"),
        pytest.param("mysql://u:p@ss@h/db", f"mysql://u:{MASK}@h/db", id="url-password-with-at"),
        pytest.param('"dsn": "http:\\/\\/u:pw-2@h"', f'"dsn": "{MASK}"', id="json-escaped-url"),
    ],
)
def test_credential_shaped_text_is_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_yaml_block_scalars_and_values_on_the_next_line_are_masked() -> None:
    text = (
        "shop:\n  password: |\n    first-line-x\n    second-line-y\n  user: bob\n"
        "other:\n  token:\n    tok-next-line\n"
    )
    shown = mask_text(text)
    _clean(shown, "first-line-x", "second-line-y", "tok-next-line")
    assert "  user: bob\n" in shown and "other:\n" in shown


def test_what_is_not_a_credential_is_left_alone() -> None:
    for text in (
        "password authentication failed for user bob",
        "primary_key: id",
        "prompt_tokens: 120",
        "password: ${MYSQL_PASSWORD}",
        "sort_key=region",
        "Unexpected token. Line 1",
    ):
        assert mask_text(text) == text


def test_credential_keys() -> None:
    yes = ["password", "db_password", "PGPASSWORD", "apiKey", "serviceRoleKey", "key", "x-api-key",
           "Authorization", "client_secret", "access_token", "dsn", "basic_auth", "credentials", "sslpassword"]
    no = ["primary_key", "sslkey", "tokens", "prompt_tokens", "bypass", "oauth", "secrets", "sort_key", "user"]
    assert [k for k in yes if not is_credential_key(k)] == []
    assert [k for k in no if is_credential_key(k)] == []
    assert is_credential_env("MYSQL_PWD") and is_credential_env("DATABASE_URL")
    assert not is_credential_env("PWD") and not is_credential_env("SSH_AUTH_SOCK")


def test_mask_data_hides_values_of_credential_keys() -> None:
    masker = SecretMasker()
    data = {"password": "p-1", "token": 12345, "n": {"api_key": "k"}, "ref": {"password": "${X}"}, "rows": 3}
    assert masker.mask_data(data) == {
        "password": MASK, "token": MASK, "n": {"api_key": MASK}, "ref": {"password": "${X}"}, "rows": 3,
    }


def test_strip_userinfo() -> None:
    assert strip_userinfo("http://u:pw@127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"
    assert strip_userinfo("http://127.0.0.1/v1") == "http://127.0.0.1/v1"


# -- masking serialised JSON keeps it JSON --

_KEYS = st.sampled_from(["password", "token", "key", "user", "msg", "api_key", "dsn", "rows", "auth"]) | st.text(
    max_size=6
)
_PIECES = st.sampled_from(
    [*'ab :=,"\'{}[]\\\n@/#-$|>', "password: ", "token=", "http://u:p@h", "${X}", "null", "12", MASK, "p@ss"]
)
_TEXT = st.lists(_PIECES, max_size=12).map("".join)
_LEAF = _TEXT | st.integers() | st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
_DATA = st.recursive(_LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(_KEYS, c, max_size=3), max_leaves=10)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(_DATA, st.sampled_from([None, 2]))
def test_masking_serialised_json_keeps_it_json(data: object, indent: int | None) -> None:
    masker = SecretMasker(["p@ss", "1234", "ab"])
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    json.loads(masker.mask(text))  # valid JSON, whatever was masked
