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
