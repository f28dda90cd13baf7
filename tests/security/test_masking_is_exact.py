"""The masker hides exactly what it must: every secret a connection or the environment holds,
nothing that is not one, and it keeps JSON numbers JSON.

These pin the registration rules and the edges of oml/secrets.py one behaviour at a time (each
was a surviving mutant of `make mutate MODULE=oml/secrets.py`).
"""

from __future__ import annotations

import json

import pytest

from osiris.oml.secrets import (
    MASK,
    SecretMasker,
    has_url_password,
    is_credential_key,
    pattern_redactions,
    secrets_in_value,
    strip_userinfo,
)

# -- what is registered --


def test_declared_credential_looking_nested_and_url_secrets_of_a_connection_are_registered() -> None:
    masker = SecretMasker()
    masker.add_connection(
        {
            "ssl": {"ca": "/etc/ca.pem", "key": "nested-key-1"},  # a nested mapping first: the rest still counts
            "host": "db.internal",
            "service_value": "declared-sv-2",
            "api_token": "looks-like-3",
            "dsn": "mysql://u:pa\"ss'x-4@h/db",  # quotes: only urlsplit finds this password
        },
        secret_fields={"service_value"},
    )
    shown = masker.mask("nested-key-1 db.internal declared-sv-2 looks-like-3 pa\"ss'x-4 /etc/ca.pem")
    assert shown == f"{MASK} db.internal {MASK} {MASK} {MASK} /etc/ca.pem"


def test_environment_registration_takes_credential_names_of_four_characters_or_more() -> None:
    masker = SecretMasker()
    masker.add_environment(
        {"DB_PASSWORD": "abcd", "SHORT_TOKEN": "abc", "HOME": "/home/osiris", "X_URL": "postgresql://u:envpw-9@h/d"}
    )
    assert masker.mask("abcd abc /home/osiris envpw-9") == f"{MASK} abc /home/osiris {MASK}"


def test_none_booleans_blanks_and_the_mask_itself_are_not_secrets() -> None:
    masker = SecretMasker([None, True, "   ", MASK, "real-secret-5"])
    shown = masker.mask("None True x:   :y *** %2A%2A%2A real-secret-5")
    assert shown == f"None True x:   :y *** %2A%2A%2A {MASK}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("host=h password=bare-1 x=y", {"bare-1"}),
        ('host=h password="a\\"b c" x=y', {'a"b c'}),
        ("host=h password='it\\'s x' x=y", {"it's x"}),
        ("host=h password='it''s' x=y", {"it's"}),
        ('password=\\"ej-1\\" x', {"ej-1"}),
        ("password=${DB_PW} token=tok-2", {"tok-2"}),
        ("password=null user=u", set()),
        ("postgresql://u:p%40w-3@h/db?sslpassword=ssl-4", {"p%40w-3", "p@w-3", "ssl-4"}),
        ("not a url: http://[::1", set()),
        (42, set()),
    ],
)
def test_secrets_in_a_value(value: object, expected: set[str]) -> None:
    assert set(secrets_in_value(value)) == expected


# -- masking: ranges, numbers, data --


def test_touching_secrets_are_masked_as_one_run() -> None:
    assert SecretMasker(["abcd", "efgh"]).mask("[abcdefgh]") == f"[{MASK}]"


def test_a_four_character_secret_is_masked_inside_a_word() -> None:
    assert SecretMasker(["ab12"]).mask("xab12y") == f"x{MASK}y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1234]", '["***"]'),
        ('{"n": 1234}', '{"n": "***"}'),
        ("1234", '"***"'),
        ("[5, 1234]", '[5, "***"]'),
        ('{"a": [9123456, 1]}', '{"a": ["***", 1]}'),
        ("1234, 7", '"***", 7'),
        ("x 1234 y", "x *** y"),
        ("[1234 x", "[*** x"),
        ("x 1234]", "x ***]"),
        ('{"a": ":1234,"}\n', '{"a": ":***,"}\n'),  # inside a string: unquoted, or the JSON breaks
        ('{"q": "\\"", "n": 1234}', '{"q": "\\"", "n": "***"}'),  # an escaped quote does not open a string
        ('"k": 1234', '"k": "***"'),
        ('say "hi\n[1234]', 'say "hi\n["***"]'),  # strings do not span lines
        ('say\n"\n[1234]', 'say\n"\n["***"]'),  # only the number's own line counts
        ('a"\n[1234]', 'a"\n["***"]'),
        ('x\n"a", 1234]', 'x\n"a", "***"]'),
        ("id-91234.5e3x", "id***x"),  # a secret inside a number hides the whole number
        ("91234", '"***"'),
        ("a91234 b", "a*** b"),
        ("12349x", "***x"),
        ("1234 and 9", "*** and 9"),
        ("x 1234", "x ***"),
    ],
)
def test_a_secret_number_is_masked_whole_and_json_stays_json(text: str, expected: str) -> None:
    assert SecretMasker(["1234"]).mask(text) == expected


def test_every_shape_adds_to_what_registered_values_hide() -> None:
    masker = SecretMasker(["s3cr3t-1"])
    text = "s3cr3t-1 password=x1 http://u:pw-2@h Bearer abcdefgh12\ntoken:\n  block-3\n"
    assert masker.mask(text) == f"{MASK} password={MASK} http://u:{MASK}@h Bearer {MASK}\ntoken:\n  {MASK}\n"


def test_a_basic_authorization_token_is_masked() -> None:
    assert SecretMasker().mask("sent Basic dXNlcjpwYXNzd29yZA==") == f"sent Basic {MASK}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('password: ""', 'password: ""'),
        ('password: "${DB_PW}"', 'password: "${DB_PW}"'),
        ("password=${DB_PW} token=tok-2", f"password=${{DB_PW}} token={MASK}"),
        ("password: ***", "password: ***"),
    ],
)
def test_empty_values_references_and_masked_values_stay_as_they_are(text: str, expected: str) -> None:
    assert SecretMasker().mask(text) == expected


def test_mask_data_masks_every_string_and_credential_value() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "holds s3cr3t-1"

    masker = SecretMasker(["s3cr3t-1"])
    data = {
        "list": ["s3cr3t-1", None, 1.5, True, 7],
        "tuple": ("s3cr3t-1",),
        "object": Opaque(),
        "none": None,
        "password": "",
        "key": {"id": 1},
        "token": ["t"],
        "s3cr3t-1": "as a key",
    }
    assert masker.mask_data(data) == {
        "list": [MASK, None, 1.5, True, 7],
        "tuple": [MASK],
        "object": f"holds {MASK}",
        "none": None,
        "password": "",
        "key": {"id": 1},
        "token": ["t"],
        MASK: "as a key",
    }


def test_dumps_writes_masked_json() -> None:
    masker = SecretMasker(["s3cr3t-1"])
    text = masker.dumps({"a": "s3cr3t-1", "password": "y"}, sort_keys=True, indent=1)
    assert json.loads(text) == {"a": MASK, "password": MASK} and "\n" in text


def test_pattern_redactions_are_the_ranges_mask_text_replaces() -> None:
    assert pattern_redactions("password: x1 ok") == [(10, 15)]


def test_strip_userinfo_keeps_the_host_after_the_last_at() -> None:
    assert strip_userinfo("http://u:p@ss@h/v1") == "http://h/v1"
    assert strip_userinfo("http://u:pw-1@[::1") == f"http://u:{MASK}@[::1"  # unparsable: masked instead


def test_a_url_password_is_found_and_a_url_without_one_is_not() -> None:
    assert has_url_password("see postgresql://u:p-1@h/db") and not has_url_password("http://u@h/x http://h:80/")


@pytest.mark.parametrize(
    "name",
    ["passphrase", "db_passwd", "x_credential", "sasToken", "mysqlpwd", "apikey", "service_role_key", "anon-key",
     "masterKey", "signing.key", "encryption_key", "account_key", "storageKey", "subscription_key", "client_key",
     "auth_key", "app_key", "session_key", "shared_key", "secret_key", "private_key", "access_key_id", "db_pass",
     "pg_dsn", "basic_auth", "proxy-authorization", "x_bearer", "set-cookie", "connection_string", "conn_str", "sas",
     " api_key "],
)
def test_every_credential_word_is_a_credential_key(name: str) -> None:
    assert is_credential_key(name)
