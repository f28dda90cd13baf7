"""`osiris connections list|doctor`: what the connections file defines and whether each answers.

Secret fields are never shown (`***`); `${VAR}` references are reported by name with
whether the variable is set. `doctor` resolves each alias from the environment and calls
the health check of a driver of that family (the drivers' own connection code, TLS settings
included), and says when an alias talks to a remote host unencrypted or possibly so, and what
the discovery cache shared with `osiris discover` and chat holds for it; every message and the
JSON output are masked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["connections_command", "doctor_results"]


def connections_command(args: argparse.Namespace) -> int:
    from osiris.runtime.connections import ConnectionsUnavailable, load_connections_file
    from osiris.runtime.secrets import SecretMasker

    masker = SecretMasker()
    masker.add_environment(os.environ)
    try:
        file = load_connections_file(args.connections, Path.cwd())
    except ConnectionsUnavailable as error:
        sys.stderr.write(masker.mask(f"osiris connections: error: {error}\n"))
        if error.diagnostics:
            from osiris.compiler.render import render_text

            label = error.diagnostics[0].span.file
            sys.stderr.write(masker.mask(render_text([(label, error.diagnostics)])))
        return 2 if not error.diagnostics else 1
    if file is None:
        sys.stderr.write(
            "osiris connections: no osiris_connections.yaml here (pass --connections FILE, "
            "or run `osiris init` for a starter)\n"
        )
        return 2
    if args.action == "list":
        return _list(file, masker, args.json)
    from osiris.runtime.logsetup import masked_logging

    # A relative base_dir means the same as in a run: the project root (cli/project.py).
    with masked_logging(masker), contextlib.chdir(getattr(args, "project_root", None) or Path.cwd()):
        return _doctor(file, masker, args.json, args.timeout)


def _aliases(file: Any) -> list[tuple[str, str, Any]]:
    return [
        (family, alias, file.aliases[family][alias])
        for family in file.families()
        for alias in sorted(file.aliases[family])
    ]


def alias_entries(file: Any) -> list[dict[str, Any]]:
    """Every alias of the connections file as `osiris connections list --json` shows it, secret
    fields written as their `${VAR}` references or `***` (mask the result before printing it)."""
    entries = []
    for family, alias, decl in _aliases(file):
        secret = file.secret_fields.get(family, frozenset())
        fields = {}
        for key, value in decl.fields.items():
            if key in secret or _looks_secret(key):
                fields[key] = _refs_text(decl.env_refs[key]) if key in decl.env_refs else "***"
            else:
                fields[key] = value
        env = {ref.name: ref.name in os.environ for refs in decl.env_refs.values() for ref in refs}
        entries.append(
            {
                "ref": f"@{family}.{alias}",
                "family": family,
                "alias": alias,
                "default": file.default_alias(family) == alias,
                "fields": fields,
                "allow_override": sorted(decl.allow_override),
                "env": env,
            }
        )
    return entries


def _list(file: Any, masker: Any, as_json: bool) -> int:
    entries = alias_entries(file)
    if as_json:
        print(masker.mask(json.dumps(masker.mask_data(entries), indent=2, ensure_ascii=False)))
        return 0
    for entry in entries:
        default = " (default)" if entry["default"] else ""
        print(masker.mask(f"{entry['ref']}{default}"))
        for key, value in entry["fields"].items():
            print(masker.mask(f"    {key}: {value}"))
        if entry["allow_override"]:
            print(f"    allow_override: [{', '.join(entry['allow_override'])}]")
        for name, is_set in entry["env"].items():
            print(f"    env {name}: {'set' if is_set else 'NOT SET'}")
    return 0


def _doctor(file: Any, masker: Any, as_json: bool, timeout: float) -> int:
    results = doctor_results(file, masker, timeout)
    failed = [r for r in results if r["ok"] is False]
    if as_json:
        print(
            masker.mask(json.dumps({"ok": not failed, "connections": results}, indent=2, ensure_ascii=False))
        )
    else:
        for r in results:
            mark = {True: "ok  ", False: "FAIL", None: "skip"}[r["ok"]]
            latency = f" ({r['latency_ms']:.0f} ms)" if r.get("latency_ms") is not None else ""
            print(masker.mask(f"{mark} {r['ref']}{latency}: {r['message']}"))
            if r.get("hint"):
                print(masker.mask(f"     hint: {r['hint']}"))
            if r.get("warning"):
                print(masker.mask(f"     warning: {r['warning']}"))
            if r.get("discovery"):
                found = r["discovery"]
                print(f"     discovery cache: {found['tables']} table(s), {found['age_s']} s old "
                      f"(osiris discover {r['ref']} --refresh asks again)")
    return 1 if failed else 0


def doctor_results(file: Any, masker: Any, timeout: float) -> list[dict[str, Any]]:
    """Each alias's health check, masked: ref, family, ok (True, False, or None when no
    installed driver offers one), message, and hint, latency_ms, warning when there are any.
    `osiris validate --doctor` reports the same."""
    from osiris.compiler.spec_cache import default_registry as specs
    from osiris.runtime.connections import RuntimeConnections, UnencryptedNotices
    from osiris.runtime.driver import DriverError
    from osiris.runtime.registry import default_registry as drivers

    notices = UnencryptedNotices(log=False)
    conns = RuntimeConnections(file, masker, notices=notices)
    conns.register_secrets([f"@{f}.{a}" for f, a, _ in _aliases(file)])
    registry = drivers()
    results = []
    for family, alias, _ in _aliases(file):
        ref = f"@{family}.{alias}"
        entry: dict[str, Any] = {"ref": ref, "family": family}
        try:
            connection = conns.resolve(ref)
            checker = _health_checker(family, specs(), registry)
            if checker is None:
                entry.update(ok=None, **_skip_reason(family))
            else:
                report = checker.health_check(connection, timeout_s=timeout)
                entry.update(ok=bool(report.ok), message=str(report.message), latency_ms=report.latency_ms)
        except DriverError as error:
            entry.update(ok=False, message=str(error), hint=error.hint)
        except Exception as error:  # noqa: BLE001 - a health check must report, not crash
            entry.update(ok=False, message=f"{type(error).__name__}: {error}")
        if ref in notices.seen:
            host, reason = notices.seen[ref]
            entry["warning"] = f"talks to {host} {reason}"
        entry.update(_cached_discovery(family, alias))
        results.append(masker.mask_data(entry))
    return results


def _cached_discovery(family: str, alias: str) -> dict[str, Any]:
    """What the discovery cache shared with `osiris discover` and chat holds for this alias:
    {"discovery": {"tables": N, "age_s": S}} for the newest live entry, else nothing."""
    from osiris.runtime.discovery_cache import DiscoveryCache

    cache = DiscoveryCache()
    entries = cache.entries_for(family, alias)
    if not entries:
        return {}
    newest = entries[0]
    return {"discovery": {"tables": len(newest.result.tables), "age_s": round(cache.clock() - newest.created_at)}}


def _skip_reason(family: str) -> dict[str, str]:
    """Why an alias gets no health check: its driver's pip extra is missing, or no driver offers one."""
    from osiris.runtime.extras import DRIVER_EXTRAS, install_hint, missing_modules

    extra = DRIVER_EXTRAS.get(family)
    if extra is not None and missing_modules(extra):
        return {"message": f"the {family} driver is not installed: needs extra {extra}", "hint": install_hint(extra)}
    return {"message": f"no installed {family} driver offers a health check"}


def _health_checker(family: str, specs: Any, registry: Any) -> Any:
    for name in specs.canonical_names():
        spec = specs.components[name]
        if (spec.family != family and family not in spec.object_stores) or not registry.installed(name):
            continue
        driver = registry.create(name)
        if callable(getattr(driver, "health_check", None)):
            return driver
    return None


def _looks_secret(key: str) -> bool:
    from osiris.runtime.secrets import is_credential_key

    return is_credential_key(key)


def _refs_text(refs: Any) -> str:
    return " ".join("${" + ref.name + "}" for ref in refs)
