#!/usr/bin/env bash
# Coverage-guided fuzzing of a C decoder core under ASan+UBSan (libFuzzer; Debian: clang-14 libclang-rt-14-dev).
#   tests/fuzz/run_fuzz.sh pgcopy|myrows [SECONDS]   (default 600; the results are recorded in docs/security.md)
#     pgcopy: the PostgreSQL binary COPY decoder; myrows: the MySQL binary-protocol row decoder
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${1:?usage: tests/fuzz/run_fuzz.sh pgcopy|myrows [SECONDS]}"
seconds="${2:-600}"
case "$target" in
  pgcopy) sources=(drivers/postgres/pgcopy_core.c drivers/postgres/pgcopy_pool.c) ;;
  myrows) sources=(drivers/mysql/myrows_core.c) ;;
  *) echo "unknown target '$target' (pgcopy or myrows)" >&2; exit 2 ;;
esac
work="$(mktemp -d "/tmp/$target-fuzz.XXXXXX")"
CLANG="$(command -v clang-14 || command -v clang)"
"$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  "tests/fuzz/${target}_fuzz.c" "${sources[@]}" -o "$work/${target}_fuzz"
.venv/bin/python "tests/fuzz/make_${target}_seeds.py" "$work/corpus"
echo "fuzzing $target for ${seconds}s in $work"
"$work/${target}_fuzz" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024 -print_final_stats=1 \
  "$work/corpus" 2>&1 | tail -25
