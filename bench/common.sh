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
# _own_s VAR [PID...]: VAR = CPU seconds of our waited-for children, plus the named pids' own
# and reaped children's. (Not through $(...): a subshell's `times` starts from zero.)
_own_s() {
  local var=$1 f s p
  shift
  f=$(mktemp)
  times >"$f"
  s=$(awk 'NR==2{split($1,a,"m"); split($2,b,"m"); print a[1]*60+a[2]+b[1]*60+b[2]}' "$f")
  rm -f "$f"
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    s=$(sed 's/.*) //' "/proc/$p/stat" | awk -v s="$s" -v hz="$_HZ" '{print s+($12+$13+$14+$15)/hz}')
  done
  printf -v "$var" '%s' "$s"
}
# measured LABEL [--pids "PID..."] CMD...: runs CMD (its stdout passes through) and appends
# "LABEL foreign load_before load_after" to the log.
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
      -v l0="$l0" -v l1="$(load1)" 'BEGIN{w=t1-t0; f=w>0?((b1-b0)-(o1-o0))/w:0; if(f<0)f=0;
      gsub(/ /,"_",l); printf "%s %.2f %s %s\n", l, f, l0, l1}' >>"$QUIET_LOG"
  return $rc
}
# Prints each measured run's foreign load and whether ratios may be reported; exit status 0
# when they may (all runs quiet, or --noisy).
quiet_verdict() {
  python3 - "$QUIET_LOG" "$QUIET_LIMIT" "$NOISY" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
limit, noisy = float(sys.argv[2]), sys.argv[3] == "1"
if not rows:
    sys.exit(0)
worst = max(rows, key=lambda r: float(r[1]))
print(f"quiet check: foreign CPU during the {len(rows)} measured runs {min(float(r[1]) for r in rows):.2f}-"
      f"{float(worst[1]):.2f} cores (limit {limit}); load average {min(float(r[2]) for r in rows):.2f}-"
      f"{max(float(r[3]) for r in rows):.2f} (the benchmark's own threads included)")
if float(worst[1]) > limit:
    print(f"NOISY: another process used {float(worst[1]):.2f} cores during '{worst[0].replace('_', ' ')}'"
          + ("; ratios below are printed because of --noisy and are not evidence" if noisy else
             "; ratios withheld (rerun on a quiet machine, or pass --noisy to print them anyway)"))
    sys.exit(0 if noisy else 1)
PY
}
