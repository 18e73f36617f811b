# Shared helpers for bench/*.sh (sourced).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
XOPS="${XOPS:-$ROOT/build/xops}"
machine() {
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(df -T "${1:-/tmp}" | awk 'NR==2{print $2}') filesystem"
}
now() { date +%s.%N; }
load1() { cut -d' ' -f1 /proc/loadavg; }  # 1-minute load average: above 0.5 a ratio is noise
elapsed() { echo "$2 - $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# --- Quiet-machine guard --------------------------------------------------------------------
# A speed ratio taken while another process used the cores measures the scheduler, not the
# code (llama.cpp's spinning threads lose half their speed to one competitor). The 1-minute
# load average cannot tell a benchmark's own threads from a competitor's, so each measured run
# also records the CPU that the rest of the machine used while it ran, in cores: every CPU's
# busy time (steal included: a VM neighbour) minus the run's own user+system time (the
# processes it waited for, plus any background pids it names: a server), over the wall time.
# Ratios are withheld when a run's foreign load passed QUIET_LIMIT (0.5 core), unless the
# bench was given --noisy (or NOISY=1), which prints them marked as noisy.
NOISY="${NOISY:-0}"
_args=()
for _a in "$@"; do if [ "$_a" = --noisy ]; then NOISY=1; else _args+=("$_a"); fi; done
set -- "${_args[@]+"${_args[@]}"}"
QUIET_LIMIT="${QUIET_LIMIT:-0.5}"
QUIET_LOG="$(mktemp "${TMPDIR:-/tmp}/xops-quiet.XXXXXX")"
_HZ=$(getconf CLK_TCK)
_busy_s() { awk -v hz="$_HZ" '/^cpu /{print ($2+$3+$4+$7+$8+$9)/hz}' /proc/stat; }
# _own_s VAR [PID...]: VAR = CPU seconds of our waited-for children, plus the named pids' and
# their descendants' own and reaped children's. (Not through $(...): a subshell's `times` starts from zero.)
_own_s() {
  local var=$1 f s
  shift
  f=$(mktemp)
  times >"$f"
  s=$(awk 'NR==2{split($1,a,"m"); split($2,b,"m"); print a[1]*60+a[2]+b[1]*60+b[2]}' "$f")
  rm -f "$f"
  # The named pids with every live descendant (a server's workers, a daemon's backends); one
  # that ended was reaped by its parent and is in that parent's cutime/cstime.
  if [ $# -gt 0 ]; then
    s=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v s="$s" -v hz="$_HZ" -v roots="$*" '
      { r = $0; sub(/.*\) /, "", r); split(r, f, " "); par[$1] = f[2]; cpu[$1] = f[12] + f[13] + f[14] + f[15] }
      END {
        n = split(roots, rs, " "); for (i = 1; i <= n; i++) root[rs[i]] = 1
        for (p in cpu) {
          q = p
          for (d = 0; d < 64 && (q + 0) > 1; d++) { if (q in root) { s += cpu[p] / hz; break }; q = par[q] }
        }
        print s
      }')
  fi
  printf -v "$var" '%s' "$s"
}
# measured LABEL [--pids "PID..."] CMD...: runs CMD (its stdout passes through) and appends
# "LABEL busy own wall load_before load_after" (seconds) to the log.
measured() {
  local label=$1 pids="" rc=0 t0 b0 o0 l0 t1 b1 o1
  shift
  if [ "${1:-}" = --pids ]; then pids=$2; shift 2; fi
  # shellcheck disable=SC2086
  t0=$(now); b0=$(_busy_s); _own_s o0 $pids; l0=$(load1)
  "$@" || rc=$?
  # shellcheck disable=SC2086
  t1=$(now); b1=$(_busy_s); _own_s o1 $pids
  awk -v l="$label" -v b0="$b0" -v b1="$b1" -v o0="$o0" -v o1="$o1" -v t0="$t0" -v t1="$t1" \
      -v l0="$l0" -v l1="$(load1)" 'BEGIN{gsub(/[ \t]/,"_",l);
      printf "%s %.3f %.3f %.4f %s %s\n", l, b1-b0, o1-o0, t1-t0, l0, l1}' >>"$QUIET_LOG"
  return $rc
}
# Prints the foreign CPU of each label's runs and whether ratios may be reported; exit status
# 0 when they may (all quiet, or --noisy). CPU times tick in 10 ms jiffies, so a run of a few
# ms cannot be judged alone: runs are pooled per label (busy and own time summed over the
# label's runs, over their summed wall time), a label is judged once its runs add up to 1 s,
# and all runs pooled are always judged.
quiet_verdict() {
  python3 - "$QUIET_LOG" "$QUIET_LIMIT" "$NOISY" "$(nproc)" <<'PY'
import sys
from collections import OrderedDict
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
limit, noisy, cores = float(sys.argv[2]), sys.argv[3] == "1", float(sys.argv[4])
if not rows:
    print("quiet check: no measured runs")
    sys.exit(0)
labels = OrderedDict()
for r in rows:
    a = labels.setdefault(r[0], [0.0, 0.0, 0.0, [], 0])
    a[0] += float(r[1]); a[1] += float(r[2]); a[2] += float(r[3]); a[3] += [float(r[4]), float(r[5])]; a[4] += 1
def foreign(b, o, w): return min(cores, max(0.0, (b - o) / w)) if w > 0 else 0.0
# Each run's busy and own times are each off by up to a jiffy per core: 0.03 s of CPU per run
# on this count is quantisation, not a competitor.
def beyond_ticks(f, n, w): return max(0.0, f - 0.03 * n / w) if w > 0 else 0.0
judged = []
for name, (b, o, w, loads, n) in labels.items():
    f = foreign(b, o, w)
    shown = name.replace("_", " ")
    note = "" if w >= 1.0 else " (too short to judge alone)"
    print(f"  {shown}: {n} run{'s' if n > 1 else ''}, {w:.2f} s; foreign CPU {f:.2f} cores{note}; "
          f"load average {min(loads):.2f}-{max(loads):.2f}")
    if w >= 1.0:
        judged.append((beyond_ticks(f, n, w), shown))
B, O, W = (sum(a[i] for a in labels.values()) for i in range(3))
judged.append((beyond_ticks(foreign(B, O, W), len(rows), W), "all runs together"))
worst = max(judged)
loads = [x for a in labels.values() for x in a[3]]
print(f"quiet check: foreign CPU beyond clock-tick error {min(j[0] for j in judged):.2f}-{worst[0]:.2f} cores over {len(rows)} measured runs "
      f"(limit {limit}); load average {min(loads):.2f}-{max(loads):.2f} (the benchmark's own threads included)")
if worst[0] > limit:
    print(f"NOISY: another process used {worst[0]:.2f} cores during '{worst[1]}'"
          + ("; ratios below are printed because of --noisy and are not evidence" if noisy else
             "; ratios withheld (rerun on a quiet machine, or pass --noisy to print them anyway)"))
    sys.exit(0 if noisy else 1)
PY
}

# quiet_gate: quiet_verdict, remembered in QUIET_OK (1: ratios may be printed) for shown_ratio.
QUIET_OK=1
quiet_gate() { QUIET_OK=1; quiet_verdict || QUIET_OK=0; }
# shown_ratio A B: "A/B" to two decimals with an x, or "withheld" after a noisy quiet_gate.
shown_ratio() {
  if [ "$QUIET_OK" = 1 ]; then printf '%.2fx' "$(ratio "$1" "$2")"; else printf 'withheld'; fi
}
