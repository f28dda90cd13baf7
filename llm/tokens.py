"""Count tokens the way an OpenAI model would, or estimate them when no tokenizer is installed.

tiktoken downloads its BPE ranks from the internet on first use, which offline machines
cannot do. `bpe-openai` (Python bindings to GitHub's `bpe-openai` Rust crate) ships the
cl100k/o200k ranks inside the wheel, so when it is installed the counts are exact for
o200k_base (GPT-4o and later). Without it we fall back to ceil(chars / 4), OpenAI's published
rule of thumb for English; on our prompts (YAML, SQL, identifiers) it matches o200k counts
within about -16%..+5% (see tests/llm/test_context.py); llm.context keeps a 15% margin
when only the estimate is available. OSIRIS_LLM_TOKENIZER=estimate forces the estimate.
"""

from __future__ import annotations

import math
import os
import warnings
from functools import lru_cache
from typing import Any

__all__ = ["count_tokens", "estimate_tokens", "is_exact", "tokenizer_name", "warm"]

ENCODING = "o200k_base"


@lru_cache(maxsize=1)
def _encoding() -> Any:
    if os.environ.get("OSIRIS_LLM_TOKENIZER") == "estimate":  # skip the 2 s tokenizer load
        return None
    try:
        with warnings.catch_warnings():  # it loads its ranks with importlib.resources' deprecated API
            warnings.simplefilter("ignore", DeprecationWarning)
            import bpe_openai

            return bpe_openai.get_encoding(ENCODING)
    except ImportError:
        return None
    except Exception:  # noqa: BLE001 - a broken optional tokenizer must not break chat
        return None


def warm() -> None:
    """Load the tokenizer (about 2 s: its import reads the rank tables) while the user types."""
    _encoding()


def tokenizer_name() -> str:
    """What `count_tokens` measures with: reported beside every token figure."""
    return f"bpe-openai {ENCODING}" if _encoding() is not None else "estimate chars/4"


def is_exact() -> bool:
    return _encoding() is not None


def count_tokens(text: str) -> int:
    encoding = _encoding()
    if encoding is not None and len(text) < 200_000:  # past that it is far over any budget anyway
        return len(encoding.encode_ordinary(text))
    return estimate_tokens(text)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)
