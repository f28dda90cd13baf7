"""Hypothesis strategies for SQL that tries to confuse a binder: prefixes full of quotes,
escapes, dollar quotes, nested and executable comments, odd whitespace; hostile values."""

from __future__ import annotations

from hypothesis import strategies as st

NASTY = ["'", "''", '"', "`", "\\", "\\'", "\\\\", "$", "$$", "$a$", "$_1$", "--", "-- ", "#", "/*", "*/",
         "/*!", "/*M!", "/*+", "\n", "\r", "\r\n", " ", "\t", "\u3000", "\xa0", "\u2028", "\x0b", "\x0c",
         "E", "e", "x", "N", "U&", "B", "_utf8mb4", "@", ";", ",", "(", ")", "*", "/", "-", "é", "😀"]
"""Fragments that start, end or change the meaning of quotes and comments in some dialect."""

values = st.lists(st.sampled_from(NASTY + ["a", "1", " OR 1=1", " UNION SELECT 1", "CURRENT_USER()",
                                            "read_text('/etc/hostname')", "pg_sleep(0)"]),
                  max_size=8).map("".join) | st.text(max_size=12).filter(lambda s: "\x00" not in s)
"""Adversarial string values (NUL is refused by check_text and tested on its own)."""


def _content(forbidden: str = "") -> st.SearchStrategy[str]:
    """Text for inside a quote or comment, made of the nasty fragments."""
    return (st.lists(st.sampled_from(NASTY + ["a", "b", " ", "é"]), max_size=6).map("".join)
            .map(lambda s: "".join(c for c in s if c not in forbidden)))


def _plain(dialect: str) -> st.SearchStrategy[str]:
    if dialect == "mysql":
        return _content().map(lambda s: "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'") | \
            _content("\\").map(lambda s: "'" + s.replace("'", "''") + "'")
    return _content().map(lambda s: "'" + s.replace("'", "''") + "'")


def _comment(dialect: str) -> st.SearchStrategy[str]:
    line = _content("\n\r").map(lambda s: "-- " + s + "\n")
    block = _content().map(lambda s: "/* " + s.replace("*/", "* /").replace("/*", "/ *") + " */")
    options = [line, block]
    if dialect == "mysql":
        options.append(_content("\n").map(lambda s: "#" + s + "\n"))
    else:
        options.append(st.tuples(_content(), _content()).map(
            lambda p: "/* " + p[0].replace("*/", "").replace("/*", "") + " /* " + p[1].replace("*/", "")
            .replace("/*", "") + " */ */"))
        options.append(_content("\n\r").map(lambda s: "--" + s + "\r"))
    return st.one_of(options)


def _string_item(dialect: str) -> st.SearchStrategy[str]:
    options = [_plain(dialect)]
    if dialect == "mysql":
        options += [_content().map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
                    _content().map(lambda s: "_utf8mb4 '" + s.replace("\\", "\\\\").replace("'", "''") + "'"),
                    st.just("X'4A'"), st.just("0x4A"), st.just("B'01'")]
    else:
        options += [
            _content().map(lambda s: "E'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"),
            _content().map(lambda s: "$$" + s.replace("$$", "$") + "$$"),
            st.tuples(st.sampled_from(["a", "_t1", "tag"]), _content()).map(
                lambda p: f"${p[0]}$" + p[1].replace(f"${p[0]}$", "") + f"${p[0]}$"),
            st.tuples(_plain(dialect), _plain(dialect)).map(lambda p: p[0] + "\n" + p[1]),
        ]
        if dialect == "postgres":
            options += [st.just("B'01'"), st.just("X'ab'"), _content("\\").map(
                lambda s: "U&'" + s.replace("'", "''") + "'")]
    return st.one_of(options)


def comment(dialect: str) -> st.SearchStrategy[str]:
    """One comment of the dialect, holding nasty fragments."""
    return _comment(dialect)


def prefix_items(dialect: str) -> st.SearchStrategy[list[str]]:
    """SELECT-list items that are valid on the server (each one column), comments between."""
    item = st.one_of(_string_item(dialect), st.just("12"), st.tuples(_string_item(dialect), _alias(dialect))
                     .map(lambda p: f"{p[0]} AS {p[1]}"))
    commented = st.tuples(st.lists(_comment(dialect), max_size=2), item).map(lambda p: " ".join([*p[0], p[1]]))
    return st.lists(commented, max_size=4)


def _alias(dialect: str) -> st.SearchStrategy[str]:
    quote = "`" if dialect == "mysql" else '"'
    return _content(quote + "\x00").filter(lambda s: s.strip() != "").map(
        lambda s: quote + s.replace(quote, quote * 2) + quote)


def junk(dialect: str) -> st.SearchStrategy[str]:
    """Arbitrary text of nasty fragments, usually invalid SQL: the binder must refuse it or be right."""
    return st.lists(st.sampled_from(NASTY + ["a", "1", " "]), max_size=10).map("".join)
