"""'Did you mean ...?' for every name a user can get wrong (keys, components, modes, ids)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate most like `word`, or None when nothing is close enough."""
    pool = sorted(set(candidates))
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in pool}
    return lowered.get(word.lower())


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A ready-to-print hint such as "did you mean 'query'?", or None."""
    match = closest(word, candidates)
    return f"did you mean '{match}'?" if match else None


def one_of(candidates: Iterable[str], limit: int = 12) -> str:
    """A short sorted listing such as "'a', 'b' or 'c'" for error messages."""
    names = sorted(set(candidates))
    shown = [f"'{n}'" for n in names[:limit]]
    if len(names) > limit:
        shown.append(f"{len(names) - limit} more")
    if not shown:
        return "nothing"
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " or " + shown[-1]
