#!/usr/bin/env bash
# Coverage-guided fuzzing of the MySQL row decoder core under ASan+UBSan (libFuzzer; Debian: clang-14 libclang-rt-14-dev).
#   tests/fuzz/run_myrows_fuzz.sh [SECONDS]      (default 600; the result is recorded in docs/security.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-600}"
work="$(mktemp -d /tmp/myrows-fuzz.XXXXXX)"
CLANG="$(command -v clang-14 || command -v clang)"
"$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  tests/fuzz/myrows_fuzz.c drivers/mysql/myrows_core.c -o "$work/myrows_fuzz"
.venv/bin/python tests/fuzz/make_myrows_seeds.py "$work/corpus"
echo "fuzzing for ${seconds}s in $work"
"$work/myrows_fuzz" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024 -print_final_stats=1 \
  "$work/corpus" 2>&1 | tail -25
