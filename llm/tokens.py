"""Count tokens the way an OpenAI model would, or estimate them when no tokenizer is installed.

tiktoken downloads its BPE ranks from the internet on first use, which offline machines
cannot do. `bpe-openai` (Python bindings to GitHub's `bpe-openai` Rust crate) ships the
cl100k/o200k ranks inside the wheel, so when it is installed the counts are exact for
o200k_base (GPT-4o and later). Without it we fall back to ceil(chars / 4), OpenAI's published
rule of thumb for English; on our prompts (YAML, SQL, identifiers) it overestimates o200k counts
by roughly 5-20% (see tests/llm/test_context.py), which is the safe side for a budget.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

__all__ = ["count_tokens", "tokenizer_name"]

ENCODING = "o200k_base"


@lru_cache(maxsize=1)
def _encoding() -> Any:
    try:
        import bpe_openai
    except ImportError:
        return None
    try:
        return bpe_openai.get_encoding(ENCODING)
    except Exception:  # noqa: BLE001 - a broken optional tokenizer must not break chat
        return None


def tokenizer_name() -> str:
    """What `count_tokens` measures with: reported beside every token figure."""
    return f"bpe-openai {ENCODING}" if _encoding() is not None else "estimate chars/4"


def count_tokens(text: str) -> int:
    encoding = _encoding()
    if encoding is not None:
        return len(encoding.encode_ordinary(text))
    return estimate_tokens(text)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)
