"""The diagnostic code catalog: stable codes, names and `omlc explain` text.

Codes never change meaning once released. Each has a snake_case name (shown in JSON and
SARIF output) and a paragraph of explanation. Every code except the internal ones is proved
by at least one file under `golden/invalid/` (tests/compiler/test_codes.py checks it), except
the manifest codes OML092-OML096, which tests/security/test_manifest_tampering.py proves, and
OML097 (osiris.yaml, not OML), which tests/cli/test_project_settings.py proves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    severity: Severity
    summary: str
    explanation: str


_CATALOG: tuple[Code, ...] = (
    # --- the document -----------------------------------------------------------------------
    Code("OML001", "yaml_syntax", "error", "the file is not valid YAML",
         "The YAML parser could not read the file. The position points at the token where it "
         "gave up; the real mistake is often just before it (a missing colon, a tab used for "
         "indentation, an unclosed quote)."),
    Code("OML002", "document_not_mapping", "error", "the document is not a mapping",
         "An OML file is one YAML mapping with the keys `oml_version`, `name` and `steps`. "
         "A list, a scalar or an empty file is not a pipeline."),
    Code("OML003", "missing_key", "error", "a required top-level key is missing",
         "Every pipeline needs `oml_version` (exactly \"0.1.0\"), `name` and a non-empty "
         "`steps` list."),
    Code("OML004", "unsupported_version", "error", "unsupported oml_version",
         "This compiler reads OML 0.1.0. Write `oml_version: \"0.1.0\"` (quoted, so YAML keeps "
         "it a string)."),
    Code("OML005", "forbidden_key", "error", "a top-level key from another format",
         "`version`, `connectors`, `tasks` and `outputs` belong to older or foreign pipeline "
         "formats and are rejected so they are not silently ignored. Use `oml_version`, "
         "connection references (`@family.alias`) in step configs, `steps`, and writer steps."),
    Code("OML006", "unknown_key", "error", "unknown top-level key",
         "The top level of a pipeline accepts `oml_version`, `name`, `description`, "
         "`metadata`, `params`, `profiles` and `steps`. An unknown key is usually a typo."),
    Code("OML007", "wrong_type", "error", "a value has the wrong type",
         "A key holds a value of the wrong YAML type, e.g. `steps` given as a mapping instead "
         "of a list, or `name` as a number."),
    Code("OML008", "empty_steps", "error", "the pipeline has no steps",
         "`steps` must list at least one step."),
    Code("OML009", "duplicate_key", "error", "a mapping key is repeated",
         "YAML would keep only one of the values, so a repeated key is an error rather than a "
         "silent overwrite."),
    Code("OML010", "invalid_name", "error", "invalid pipeline name",
         "A pipeline name is 1-100 characters of letters, digits, `_`, `-` and `.`, starting "
         "with a letter or digit; it names sessions and output directories."),
    Code("OML011", "input_too_large", "error", "the input is larger than the input limit",
         "Pipelines, connections files and manifests are read only up to a size cap, 4 MiB "
         "unless OSIRIS_MAX_INPUT_SIZE says otherwise (bytes, or a size such as 16MiB), so an "
         "untrusted file cannot make a tool spend minutes and gigabytes before a diagnostic. A "
         "10,000-step pipeline is about 2 MiB. Raise the limit for a file you trust; a malformed "
         "OSIRIS_MAX_INPUT_SIZE is reported with this code too."),
    Code("OML012", "alias_expansion", "error", "aliases expand the document too much",
         "YAML aliases (`*name`, also inside merge keys `<<: *name`) repeat the node their anchor "
         "names. Nested aliases multiply (a few hundred bytes can stand for billions of values, "
         "the \"billion laughs\" attack), and an alias inside its own anchor never ends. Aliases "
         "may add at most 10,000 values, or as many values as the document writes out if that "
         "is more, and repeat at most 256 KiB of text, or as much as the document writes out; "
         "this is counted while the file is read, before anything is expanded."),
    Code("OML013", "document_too_complex", "error", "the document nests too deeply or holds too many values",
         "An OML document nests at most 100 levels deep (aliases expanded) and holds at most "
         "one value per 8 bytes of the input limit (524,288 at the default 4 MiB; every alias "
         "use counts). Real pipelines need fewer than ten levels and about one value per 13 "
         "bytes; these limits keep a hostile document from crashing or stalling the parser."),
    Code("OML014", "not_a_regular_file", "error", "the input is not a regular file",
         "Osiris reads pipelines, connections files and manifests only from regular files. A "
         "device (`/dev/zero`), a named pipe (FIFO) or a socket could never end or could block "
         "forever, so it is refused before it is opened; the file type is checked again on the "
         "opened descriptor, and the open does not block, so a FIFO swapped in between cannot "
         "hang the tool either."),
    # --- steps ---------------------------------------------------------------------------------
    Code("OML020", "step_not_mapping", "error", "a step is not a mapping",
         "Each item of `steps` is a mapping with at least `id` and `component`."),
    Code("OML021", "missing_step_key", "error", "a step lacks a required key",
         "Each step needs `id` and `component`; `config` is needed by every component that "
         "has required settings."),
    Code("OML022", "unknown_step_key", "error", "unknown step key",
         "A step accepts `id`, `component`, `mode`, `description`, `config`, `needs`, "
         "`inputs`, `retry` and `partitions`."),
    Code("OML023", "invalid_step_id", "error", "invalid step id",
         "A step id is 1-64 characters of letters, digits, `_` and `-`, starting with a letter "
         "or digit. Ids name inputs, configs in cfg.json and session directories."),
    Code("OML024", "invalid_retry", "error", "invalid retry policy",
         "`retry` takes `max_attempts` (1-20), `backoff_seconds` (0-86400, a day) and "
         "`max_backoff_seconds` (from backoff_seconds to 86400). Only transient failures are retried."),
    Code("OML025", "invalid_partitions", "error", "invalid partitions block",
         "`partitions` tells a backend that splits a step's work (`osiris run --backend ray`) how to "
         "split it; the local and E2B backends ignore it. It is a number of partitions (1-1024), "
         "shorthand for `{count: N}`, or a mapping of `count`; for an extractor `column` (the "
         "split column, a plain SQL identifier) and `bounds` (with `column`: [low, high], low < high, two "
         "integers, two finite numbers or two ISO-8601 dates or timestamps); for a transform `scope` "
         "(local, hash or single) and `by` (a non-empty list of columns, with `scope: hash` or alone). "
         "A writer takes `count` only. Which keys a step may use depends on its component's kind, so "
         "an unknown component is not blamed for them."),
    # --- the graph -----------------------------------------------------------------------------
    Code("OML031", "duplicate_step_id", "error", "a step id is defined twice",
         "Step ids must be unique; the original Osiris silently replaced the first step with "
         "the second. Rename one of them."),
    Code("OML032", "unknown_step", "error", "a reference names a step that does not exist",
         "`needs` entries and `${step.output}` input references must name a step of this "
         "pipeline."),
    Code("OML033", "cycle", "error", "the steps depend on each other in a cycle",
         "The `needs`/`inputs` graph must be acyclic. The message shows the cycle's path; "
         "remove one of its edges."),
    Code("OML034", "missing_input", "error", "a writer or transform has no input",
         "Writers and transforms consume data from upstream steps. A step does not depend on "
         "the step written before it unless you say so: add `needs: [<step>]` or "
         "`inputs: {name: \"${<step>.df}\"}`."),
    Code("OML035", "too_many_inputs", "error", "a writer has more than one data input",
         "A writer writes exactly one stream. Join or union several inputs in a transform "
         "first, or split the writer in two."),
    Code("OML036", "invalid_input_ref", "error", "an input is not a step output reference",
         "Each value under `inputs` is exactly one reference `${<step_id>.<output>}`, e.g. "
         "`\"${extract-orders.df}\"`."),
    Code("OML037", "unknown_output", "error", "a reference names an output the step does not produce",
         "Extractors and transforms produce one output, `df`. Writers produce none, so they "
         "can be named in `needs` (ordering) but not used as an input."),
    Code("OML038", "extractor_with_input", "error", "an extractor was given a data input",
         "Extractors read from a source; they do not consume upstream data. Use `needs` with a "
         "writer step for ordering only, or make the step a transform."),
    Code("OML039", "self_dependency", "error", "a step depends on itself",
         "A step cannot name itself in `needs` or `inputs`."),
    # --- components and config -------------------------------------------------------------------
    Code("OML040", "unknown_component", "error", "unknown component",
         "`component` must name a registered component; `osiris components list` shows them."),
    Code("OML041", "unsupported_mode", "error", "the component does not support this mode",
         "Each component declares its modes. The original's names map onto ours: `read` -> "
         "`extract`, `write` -> `write`, `transform` -> `transform`. `discover` is not a "
         "pipeline mode."),
    Code("OML042", "unknown_config_key", "error", "unknown config key",
         "The component's config schema does not have this key. `osiris components show NAME` "
         "lists its keys."),
    Code("OML043", "missing_config_key", "error", "a required config key is missing",
         "The component's config schema requires this key."),
    Code("OML044", "invalid_config_value", "error", "a config value does not match the schema",
         "The value has the wrong type, is outside the allowed range, or is not one of the "
         "allowed values."),
    Code("OML045", "constraint_violated", "error", "a cross-field rule of the component is violated",
         "Some keys go together (e.g. `write_mode: upsert` needs `primary_key`) or exclude "
         "each other (`query` or `table`, not both)."),
    Code("OML046", "renamed_key", "warning", "a config key uses the original Osiris's name",
         "The key is accepted and renamed in the compiled config; rename it in the OML to "
         "silence the warning."),
    Code("OML047", "invalid_incremental", "error", "an incremental read has no writer that can keep its state",
         "An extractor with `incremental:` reads only what changed since the last successful run. "
         "Its cursor state is committed by the one writer its rows reach, in the same transaction "
         "as the rows, so the state never runs ahead of the data. The step must therefore feed "
         "exactly one writer; that writer must keep state (the PostgreSQL, MySQL and file writers) and "
         "append or upsert (`replace` would keep only the changes). `lookback` reads rows again, "
         "so the writer must upsert by the same `primary_key`. `limit` and `partitions:` do not "
         "combine with `incremental` (the state must cover every row read). docs/incremental.md."),
    # --- expressions -----------------------------------------------------------------------------
    Code("OML050", "expression_syntax", "error", "malformed `${...}` expression",
         "Inside strings, `${params.name}` inserts a parameter and `${step.output}` names a "
         "step output (in `inputs` only). Write `$${` for a literal `${`."),
    Code("OML051", "unknown_param", "error", "a reference names an undeclared parameter",
         "Declare the parameter under `params:` with a type and (usually) a default."),
    Code("OML052", "step_ref_outside_inputs", "error", "a step reference outside `inputs`",
         "Data flows only through `inputs` and `needs`; a `${step.output}` reference inside a "
         "config value would not be substituted by anything."),
    Code("OML053", "invalid_connection_ref", "error", "malformed connection reference",
         "`connection` takes `@family.alias`, e.g. `@mysql.shop`, naming an alias in "
         "osiris_connections.yaml."),
    # --- parameters and profiles -------------------------------------------------------------------
    Code("OML060", "invalid_param_decl", "error", "invalid parameter declaration",
         "A parameter declares `type` (string, integer, number, boolean, identifier) and optionally "
         "`default`, `enum`, `minimum`, `maximum` and `description`. The default must satisfy "
         "the declaration."),
    Code("OML061", "invalid_param_value", "error", "a parameter value does not fit its declaration",
         "Values from `--param`, `OSIRIS_PARAM_<NAME>` or a profile are converted to the "
         "parameter's type and checked against its enum and range."),
    Code("OML062", "param_without_value", "error", "a parameter has no value",
         "The parameter has no default and no value from the command line, the environment or "
         "the selected profile."),
    Code("OML063", "unknown_profile", "error", "unknown profile",
         "`--profile` must name a key under `profiles:`."),
    Code("OML064", "profile_unknown_param", "error", "a profile sets an undeclared parameter",
         "Profiles may only set parameters declared under `params:`."),
    Code("OML065", "unknown_param_override", "error", "--param names an undeclared parameter",
         "`--param name=value` must name a parameter declared under `params:`."),
    Code("OML066", "unsafe_sql_param", "error", "a parameter cannot be bound at this place in the SQL",
         "Inside SQL fields (a component's `query` or `filter`), parameters are bound as literals "
         "of the component's dialect: numbers as numbers (negative ones in parentheses), booleans "
         "as TRUE/FALSE, null as NULL, strings quoted (`'it''s'`; MySQL doubles backslashes, "
         "PostgreSQL writes E'...' when the value holds one), parameters of `type: identifier` as "
         "quoted names. A reference may stand where a value goes, apart from the words around it, "
         "or inside a plain '...' string (the escaped text only). Anywhere else it is refused: "
         "inside a comment, a quoted identifier, an E'...', dollar-quoted or MySQL \"...\" "
         "string, glued to a word (`a${params.x}`), or an identifier parameter inside a string; "
         "so are values with no literal form (NaN, infinity, NUL characters, null inside quotes)."),
    Code("OML067", "unreadable_sql", "error", "the binder cannot be sure how the server reads this SQL",
         "Before binding a parameter the compiler reads the SQL with the dialect's tokenizer and "
         "checks every quote and comment boundary against the server's own rules. Where they could "
         "differ, the parameter is not bound: an unclosed quote, MySQL's executable comments "
         "(`/*! */`, `/*M! */`) and optimizer hints (`/*+ */`), `--` not followed by a space in "
         "MySQL, a string glued to a prefix (`_utf8'x'`, `B'01'`), a PostgreSQL string continued "
         "after an E'...' string across a line break, Unicode spaces or a backslash outside "
         "strings, `$` placeholders, a NUL character. Rewrite that part of the SQL, or move it "
         "away from the statement that takes parameters."),
    # --- connections -------------------------------------------------------------------------------
    Code("OML070", "no_connections_file", "warning", "no connections file: references not checked",
         "Without osiris_connections.yaml (given by --connections, or in the project root: "
         "the working directory, or for `osiris run` the directory of the nearest osiris.yaml) "
         "connection references cannot be resolved. They are kept as written and "
         "resolved at run time."),
    Code("OML071", "unknown_family", "error", "unknown connection family",
         "The connection reference names a family that the connections file does not define."),
    Code("OML072", "unknown_alias", "error", "unknown connection alias",
         "The connection reference names an alias that the family does not define."),
    Code("OML073", "no_default_connection", "error", "no connection given and no default alias",
         "The step omits `connection` and its family has no alias marked `default: true` and "
         "none named `default`."),
    Code("OML074", "invalid_connections_file", "error", "the connections file is invalid",
         "osiris_connections.yaml has `version: 1` and `connections: <family>: <alias>: "
         "{fields}`; each alias's fields must belong to its family."),
    Code("OML075", "family_mismatch", "error", "the connection belongs to another family",
         "A component reads its connection fields from one family (mysql.extractor from "
         "`@mysql.*`)."),
    Code("OML076", "missing_env_var", "warning", "a connection uses an unset environment variable",
         "`${VAR}` in osiris_connections.yaml has no value in the environment and no "
         "`${VAR:-default}`. Compilation continues; the run fails if the variable is still "
         "unset."),
    Code("OML077", "override_not_allowed", "error", "a step overrides a connection field it may not",
         "A credential goes only to the host written next to it in osiris_connections.yaml. A "
         "step's `host`, `port`, `user`, `database`, `url` or `project_id` would send the "
         "alias's password or key elsewhere, or use it for another account, so it is refused "
         "unless the alias lists the field in `allow_override: [...]` (docs/connections.md). "
         "Better: define an alias for the other target."),
    # --- secrets -----------------------------------------------------------------------------------
    Code("OML080", "secret_inline_forbidden", "error", "a secret is written inline in the OML",
         "Passwords, keys and tokens never belong in a pipeline file: it is committed, shared "
         "and compiled into artifacts. Put the secret in osiris_connections.yaml as "
         "`${ENV_VAR}` and reference the alias with `connection: \"@family.alias\"`."),
    # --- DuckDB SQL --------------------------------------------------------------------------------
    Code("OML082", "duckdb_outside_inputs", "error", "DuckDB SQL reaches outside the step's inputs",
         "DuckDB SQL (a duckdb.processor `query`, a Parquet `filter`) may read only the step's "
         "inputs, by name. Refused: table functions that read files, URLs or databases "
         "(`read_csv`, `read_parquet`, `read_text`, `read_blob`, `glob`, `parquet_metadata`, "
         "`*_scan`...), a string or a file-like name used as a table (`FROM 'x.csv'`, "
         "`FROM data.csv`), `getenv`, SQL run from text (`query`, `PREPARE`), and statements that "
         "copy, attach, install, load or reconfigure (`COPY`, `ATTACH`, `DETACH`, `USE`, `INSTALL`, "
         "`LOAD`, `EXPORT`/`IMPORT DATABASE`, `SET`, `RESET`, `PRAGMA`, `CALL`, `CREATE SECRET`). "
         "Names inside strings, comments and quoted aliases do not count. Read files with an "
         "extractor step and pass its output in `needs` or `inputs`; memory_limit and threads are "
         "step config keys. The runtime refuses the same things anyway (docs/security.md)."),
    # --- paths -------------------------------------------------------------------------------------
    Code("OML083", "path_outside_project", "error", "a file path leaves the project",
         "A file path in a step's config must resolve inside the project root (for `osiris run` the "
         "nearest directory above the pipeline with an osiris.yaml, else the directory it starts in; "
         "for `omlc` the directory it starts in), inside the `base_dir` of the step's `@filesystem` "
         "connection, or inside a directory the operator lists under `filesystem: roots:` in "
         "osiris_connections.yaml. `..` that climbs out and absolute paths elsewhere are refused, "
         "and at run time so is a symbolic link that leads out. See docs/language.md#file-paths."),
    Code("OML084", "path_unusable", "error", "a file path holds a NUL byte, is too long or is a URL",
         "No file system accepts a path containing a NUL byte, longer than 4095 bytes, or with a "
         "file or directory name longer than 255 bytes (UTF-8). A URL other than an object-store "
         "URI (`https://`, `file://`, an unknown scheme) is not a file path: the file drivers would "
         "otherwise create a local folder named after the scheme. `s3://`, `gs://` and `az://` "
         "URIs are read and written through the step's object-store connection (OML086); an "
         "object-store URI with a query, a fragment, user info or no bucket is refused here too."),
    Code("OML086", "object_store_connection", "error", "an object-store URI needs a matching connection",
         "A path `s3://bucket/key`, `gs://bucket/key` or `az://container/key` is read or written with "
         "the credentials, region and endpoint of the step's connection: `connection: \"@s3.<alias>\"` "
         "for s3://, `@gcs.<alias>` for gs://, `@azure.<alias>` for az:// (docs/connections.md). "
         "Without one, or with a connection of another family, the step is refused: keys never come "
         "from the OML, and a key goes only to the endpoint written next to it."),
    Code("OML085", "path_protected", "error", "a file path names a hidden file or the connections file",
         "Inside the project and the operator's roots, a path may not go through a name that starts "
         "with a dot (`.git`, `.env`, `.venv`, `.osiris`, `.ssh`: credentials, code that runs later, "
         "Osiris's own sessions) nor name the connections file (`osiris_connections.yaml`, or the file "
         "in use under any name). Only the part below the root counts. The runtime checks again after "
         "resolving symbolic links. See docs/language.md#file-paths."),
    # --- compiled manifests (osiris run --manifest) -------------------------------------------------
    Code("OML092", "manifest_malformed", "error", "a compiled manifest directory is malformed",
         "`osiris run --manifest DIR` reads manifest.yaml, meta.json and cfg.json, and checks "
         "them against the manifest schema (spec/manifest.schema.json) before anything runs: a "
         "missing, unreadable or non-regular file, a value of the wrong type, an unsafe step id, "
         "a cfg.json that is not one config object per step id, or an older manifest version is "
         "refused. Recompile with omlc."),
    Code("OML093", "manifest_fingerprint_mismatch", "error", "a compiled file does not match its fingerprint",
         "meta.json's `manifest_fp` covers manifest.yaml, and each step's `cfg_fp` covers its "
         "config in cfg.json. A file edited or half-copied after compiling is refused; recompile "
         "with omlc."),
    Code("OML094", "manifest_graph_invalid", "error", "the manifest's step graph is inconsistent",
         "Step ids are unique; `needs`, `inputs`, `edges`, `order`, `levels` and `connections` "
         "agree with each other and name existing steps; the graph has no cycle; extractors take "
         "no input and writers at most one. A compiled manifest always holds; an edited one may not."),
    Code("OML095", "manifest_component_mismatch", "error", "a manifest step does not match its component",
         "Each step's component must exist in this runtime's registry with the same version, "
         "kind, mode and outputs, and its connection must be an `@family.alias` reference of the "
         "component's family (or none when the component takes none)."),
    Code("OML096", "manifest_cfg_invalid", "error", "a step's compiled config fails its component's checks",
         "A step's config in cfg.json is checked exactly as the compiler checks it: no unknown keys, "
         "the component's config schema (types, required keys), its constraints, no inline "
         "secrets, no override of a connection field its alias does not allow (OML077 when "
         "compiling), no DuckDB SQL that reaches outside the step's inputs (OML082 when "
         "compiling), and a `connection` equal to the step's."),
    # --- the project settings (osiris.yaml) --------------------------------------------------------
    Code("OML097", "invalid_project_config", "error", "osiris.yaml or a setting's value is invalid",
         "osiris.yaml is a mapping of known settings (docs/project.md): an unknown key (the hint "
         "names the nearest one), a value of the wrong type or out of range, a section such as "
         "`run:` given a value instead of settings, or a secret (passwords and keys stay in the "
         "environment) is refused, at its line and column. The same check applies to a setting's "
         "environment variable (OSIRIS_E2B_TIMEOUT=soon). `osiris validate` lists every problem."),
    # --- the tool itself ---------------------------------------------------------------------------
    Code("OML090", "internal_error", "error", "internal compiler error",
         "The compiler failed unexpectedly. This is a bug; please report it with the input."),
    Code("OML091", "io_error", "error", "a file could not be read or written",
         "The file does not exist, is not readable, or the output directory is not writable."),
)

CATALOG: dict[str, Code] = {c.code: c for c in _CATALOG}
BY_NAME: dict[str, Code] = {c.name: c for c in _CATALOG}


def lookup(code_or_name: str) -> Code | None:
    """Find a code by `OML031`, `oml031` or its name `duplicate_step_id`."""
    return CATALOG.get(code_or_name.upper()) or BY_NAME.get(code_or_name)


def catalog_markdown() -> str:
    """docs/diagnostics.md, generated so it cannot drift from the catalog."""
    lines = [
        "# Diagnostic codes",
        "",
        "Generated by `omlc explain --markdown > docs/diagnostics.md`; do not edit by hand.",
        "Every code is stable once released. `omlc explain CODE` prints one entry. Each code",
        "except OML090 has a failing example in `golden/invalid/<CODE>-<slug>.yaml`, with the",
        "exact output of `omlc check` beside it in the `.txt` file of the same name; the",
        "manifest codes OML092-OML096 are about compiled directories, not OML, and are proved",
        "by the attacks in tests/security/test_manifest_tampering.py instead; OML097 is about",
        "osiris.yaml and is proved by tests/cli/test_project_settings.py.",
        "",
        "| code | name | severity | summary |",
        "|---|---|---|---|",
    ]
    lines += [f"| [{c.code}](#{c.code.lower()}) | `{c.name}` | {c.severity} | {c.summary} |" for c in _CATALOG]
    for c in _CATALOG:
        lines += ["", f"## {c.code}", "", f"`{c.name}` ({c.severity}): {c.summary}.", "", c.explanation]
    return "\n".join(lines) + "\n"
