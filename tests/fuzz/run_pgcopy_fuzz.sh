#!/usr/bin/env bash
# Coverage-guided fuzzing of the COPY decoder core under ASan+UBSan (libFuzzer; Debian: clang-14 libclang-rt-14-dev).
#   tests/fuzz/run_pgcopy_fuzz.sh [SECONDS]      (default 600; the result is recorded in docs/security.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-600}"
work="$(mktemp -d /tmp/pgcopy-fuzz.XXXXXX)"
CLANG="$(command -v clang-14 || command -v clang)"
"$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  tests/fuzz/pgcopy_fuzz.c drivers/postgres/pgcopy_core.c drivers/postgres/pgcopy_pool.c -o "$work/pgcopy_fuzz"
.venv/bin/python tests/fuzz/make_pgcopy_seeds.py "$work/corpus"
echo "fuzzing for ${seconds}s in $work"
"$work/pgcopy_fuzz" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024 -print_final_stats=1 \
  "$work/corpus" 2>&1 | tail -25
