#!/usr/bin/env bash
# xops track add against openssl (SHA-256 with the CPU's SHA instructions), sha256sum and
# git-lfs, on one 1 GiB file and 10,000 small files (1-64 KiB); plus a no-op status.
# Usage: bench/track_add.sh [BIG_MIB=1024] [SMALL_FILES=10000]
source "$(dirname "$0")/common.sh"
BIG_MIB="${1:-1024}"; SMALL="${2:-10000}"
command -v git-lfs >/dev/null && command -v hyperfine >/dev/null || "$ROOT/scripts/setup.sh" --bench
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
W="$(mktemp -d "${TMPDIR:-/tmp}/xops-bench.XXXXXX")"; trap 'rm -rf "$W"' EXIT
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@localhost GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@localhost
echo "generating data in $W ..." >&2
mkdir -p "$W/data/small"
head -c $((BIG_MIB << 20)) /dev/urandom > "$W/data/big.bin"
python3 - "$W/data/small" "$SMALL" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2]); r = random.Random(1)
for i in range(n):
    with open(os.path.join(d, f"{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(r.randint(1, 64) * 1024))
PY
small_bytes=$(du -sb "$W/data/small" | cut -f1)
sync  # the generated data must not sit as dirty pages that the timed runs flush
cat "$W/data/big.bin" > /dev/null; find "$W/data/small" -type f -exec cat {} + > /dev/null  # warm cache
# t CMD...: CMD's wall seconds; each timed run is also a measured run (bench/common.sh).
_t() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); elapsed "$s" "$e"; }
t() { measured "$*" _t "$@"; }

t_ossl=$(t openssl dgst -sha256 "$W/data/big.bin")
t_sum_small=$(t sh -c "cd '$W/data/small' && find . -type f -print0 | xargs -0 sha256sum")

setup_repo() { rm -rf "$1"; mkdir -p "$1"; cp -r "$W/data" "$1/"; (cd "$1" && git init -q); }
setup_repo "$W/lfs"
t_lfs_big=$(cd "$W/lfs" && t sh -c 'git lfs install --local >/dev/null && git lfs track "data/big.bin" && git add .gitattributes data/big.bin')
t_lfs_small=$(cd "$W/lfs" && t sh -c 'git lfs track "data/small/**" && git add .gitattributes data/small')

rm -rf "$W/x"; mkdir -p "$W/x"; cp -r "$W/data" "$W/x/"; (cd "$W/x" && "$XOPS" -q init . --template minimal --no-hooks)
t_x_big=$(cd "$W/x" && t "$XOPS" -q track add data/big.bin)
t_x_small=$(cd "$W/x" && t "$XOPS" -q track add data/small)
# The same with --link hardlink (no second copy; the files turn read-only), on a fresh copy.
rm -rf "$W/h"; mkdir -p "$W/h"; cp -r "$W/data" "$W/h/"; sync; (cd "$W/h" && "$XOPS" -q init . --template minimal --no-hooks)
t_h_big=$(cd "$W/h" && t "$XOPS" -q track add --link hardlink data/big.bin)
t_h_small=$(cd "$W/h" && t "$XOPS" -q track add --link hardlink data/small)
(cd "$W/x" && git commit -qm data)
(cd "$W/x" && "$XOPS" -q track status)  # first status writes the directory summaries
t_status=$(cd "$W/x" && measured "hyperfine xops track status" hyperfine -N --warmup 2 --runs 10 --export-json "$W/st.json" "$XOPS -q track status" >/dev/null 2>&1 &&
           python3 -c "import json; print(json.load(open('$W/st.json'))['results'][0]['median'])")
# Pure hashing throughput: status re-hashes the big file once its stat-cache entry is gone.
(cd "$W/x" && "$XOPS" -q track add data/small >/dev/null)  # keep the small files' cache entries
sqlite3 "$W/x/.xops/xops.db" "DELETE FROM stat_cache WHERE path = 'data/big.bin'"
t_x_hash=$(cd "$W/x" && t "$XOPS" -q track status)

gib() { echo "scale=3; $BIG_MIB / 1024" | bc -l; }
machine "$W"
printf 'data: %d MiB file; %d small files, %.1f MiB\n' "$BIG_MIB" "$SMALL" "$(echo "$small_bytes / 1048576" | bc -l)"
printf '%-44s %8.3f s  (%6.0f MB/s)\n' "openssl dgst -sha256 (big)" "$t_ossl" "$(echo "$BIG_MIB*1.048576/$t_ossl" | bc -l)"
printf '%-44s %8.3f s  (%6.0f MB/s)\n' "xops track add (big, hash+store)" "$t_x_big" "$(echo "$BIG_MIB*1.048576/$t_x_big" | bc -l)"
printf '%-44s %8.3f s  (%6.0f MB/s)\n' "xops status, big file re-hashed (hash only)" "$t_x_hash" "$(echo "$BIG_MIB*1.048576/$t_x_hash" | bc -l)"
printf '%-44s %8.3f s\n' "xops track add --link hardlink (big)" "$t_h_big"
printf '%-44s %8.3f s\n' "git lfs track + git add (big)" "$t_lfs_big"
printf '%-44s %8.3f s\n' "sha256sum (small, serial)" "$t_sum_small"
printf '%-44s %8.3f s\n' "xops track add (small)" "$t_x_small"
printf '%-44s %8.3f s\n' "xops track add --link hardlink (small)" "$t_h_small"
printf '%-44s %8.3f s\n' "git lfs track + git add (small)" "$t_lfs_small"
printf '%-44s %8.1f ms\n' "xops track status (no-op, hyperfine median)" "$(echo "$t_status*1000" | bc -l)"
quiet_gate
echo "ratios:"
printf '  hash throughput vs openssl:        %s  (goal >= 0.9)\n' "$(shown_ratio "$t_ossl" "$t_x_hash")"
printf '  big add, speed-up over git-lfs:    %s copy (fsync'"'"'d), %s hardlink  (goal >= 5)\n' "$(shown_ratio "$t_lfs_big" "$t_x_big")" "$(shown_ratio "$t_lfs_big" "$t_h_big")"
printf '  small add, speed-up over sha256sum: %s copy, %s hardlink (goal >= 1.7)\n' "$(shown_ratio "$t_sum_small" "$t_x_small")" "$(shown_ratio "$t_sum_small" "$t_h_small")"
printf '  small add, speed-up over git-lfs:  %s copy, %s hardlink  (goal >= 10)\n' "$(shown_ratio "$t_lfs_small" "$t_x_small")" "$(shown_ratio "$t_lfs_small" "$t_h_small")"
