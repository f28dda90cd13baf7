"""Settings values arrive as YAML scalars, environment text or flags; each is converted to the
setting's type and bounds-checked by cli/settings.py, and a bad one is an OML097 at its source."""

from __future__ import annotations

import pytest

from osiris.cli.settings import Settings, SettingsError, leaf_keys, resolve

MiB = 2**20


@pytest.mark.parametrize(("variable", "text", "key", "expected"), [
    ("OSIRIS_E2B_TIMEOUT", "600", "e2b.timeout_s", 600),
    ("OSIRIS_E2B_TIMEOUT", " 90 ", "e2b.timeout_s", 90),
    ("OSIRIS_LLM_STREAM", "true", "chat.stream", True),
    ("OSIRIS_LLM_STREAM", "0", "chat.stream", False),
    ("OSIRIS_LLM_STREAM", "Off", "chat.stream", False),
    ("OSIRIS_LLM_TIMEOUT", "2.5", "chat.timeout_s", 2.5),
    ("OSIRIS_LOGS_OLDER_THAN_DAYS", "0", "logs.older_than_days", 0.0),
    ("OSIRIS_STEP_MEMORY", "2GiB", "run.step_memory", 2 * 2**30),
    ("OSIRIS_STEP_MEMORY", "512", "run.step_memory", 512 * MiB),  # a bare number is MiB
    ("OSIRIS_BACKEND", "ray", "run.backend", "ray"),
])
def test_environment_text_becomes_the_settings_type(variable: str, text: str, key: str, expected: object) -> None:
    resolved = resolve({}, {variable: text}, {})
    assert resolved.value(key) == expected and type(resolved.value(key)) is type(expected)
    assert resolved.sources[key] == f"env:{variable}"


@pytest.mark.parametrize(("variable", "text", "says"), [
    ("OSIRIS_E2B_TIMEOUT", "ten", "whole number"),
    ("OSIRIS_E2B_TIMEOUT", "0", "at least 1"),
    ("OSIRIS_E2B_TIMEOUT", "86401", "at most 86400"),
    ("OSIRIS_LLM_TIMEOUT", "0", "greater than 0"),
    ("OSIRIS_LLM_TIMEOUT", "nan", "finite number"),
    ("OSIRIS_LLM_STREAM", "maybe", "true or false"),
    ("OSIRIS_BACKEND", "spark", "'local' or 'ray'"),
    ("OSIRIS_STEP_MEMORY", "lots", "size"),
])
def test_a_bad_environment_value_is_oml097_at_the_variable(variable: str, text: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        resolve({}, {variable: text}, {})
    [problem] = caught.value.problems
    assert (problem.code, problem.where) == ("OML097", f"${variable}")
    assert says in problem.message and repr(text.strip()) in problem.message
    assert problem.help and "docs/project.md" in problem.help


def test_file_values_keep_yaml_types_and_refuse_wrong_ones() -> None:
    resolved = resolve({"run.step_memory": (64, "osiris.yaml:3:3"), "logs.keep": (None, "osiris.yaml:5:3"),
                        "e2b.env": (["TZ", "LANG"], "osiris.yaml:6:3")}, {}, {})
    assert resolved.value("run.step_memory") == 64 * MiB  # a bare YAML number is MiB
    assert resolved.value("logs.keep") is None and resolved.value("e2b.env") == ("TZ", "LANG")
    with pytest.raises(SettingsError) as caught:
        resolve({"run.batch_rows": (True, "osiris.yaml:2:3"), "sessions_dir": (5, "osiris.yaml:3:1"),
                 "e2b.timeout_s": (None, "osiris.yaml:4:3")}, {}, {})
    found = {(p.where, p.message.split(": ", 1)[1]) for p in caught.value.problems}
    assert found == {("osiris.yaml:2:3", "should be a whole number"), ("osiris.yaml:3:1", "should be text"),
                     ("osiris.yaml:4:3", "a value is required")}


def test_defaults_satisfy_their_own_rules() -> None:
    defaults = resolve({}, {}, {})
    assert defaults.settings == Settings()
    for key, rule in leaf_keys():
        assert defaults.value(key) == rule.default and defaults.sources[key] == "default"
