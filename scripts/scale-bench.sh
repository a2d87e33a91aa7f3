#!/usr/bin/env bash
# Scaling benchmark: programs of N and 2N nodes through simplify, grad, eval, compare and export; prints the seconds of
# each step and the ratio on doubling (linear work gives about 2).
# Usage: scripts/scale-bench.sh [N] [AUTODIFF]   (default N = 100000; AUTODIFF: the command, default a Release build run)
set -euo pipefail
n=${1:-100000}
cli=${2:-"dotnet run -c Release --project $(dirname "$0")/../src/Autodiff.Cli --"}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# A sum of n terms (a left-deep chain of n additions) whose gradient is n ones, and n named lines of a chain.
gen() {
  local k=$1
  awk -v k="$k" 'BEGIN { printf "input x: f32[4]\np = sum(x"; for (i = 1; i < k; i++) printf " + x"; printf ")\noutput p\n" }' > "$dir/sum$k.ad"
  awk -v k="$k" 'BEGIN { print "input x: f32[4]"; print "a0 = x"; for (i = 1; i <= k; i++) printf "a%d = a%d * 0.5 + x\n", i, i - 1; printf "out = sum(a%d)\noutput out\n", k }' > "$dir/lines$k.ad"
}
time_of() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
gen "$n"; gen $((2 * n))
printf '%-10s %-9s %10s %10s %7s\n' program verb "${n}" "$((2 * n))" ratio
for prog in sum lines; do
  for verb in simplify grad eval compare export; do
    args=("$verb"); [ "$verb" = export ] && args+=(--onnx "$dir/out.onnx")
    a=$(time_of $cli "${args[@]}" "$dir/$prog$n.ad")
    b=$(time_of $cli "${args[@]}" "$dir/$prog$((2 * n)).ad")
    printf '%-10s %-9s %9.2fs %9.2fs %7.2f\n' "$prog" "$verb" "$a" "$b" "$(echo "$b / $a" | bc -l)"
  done
done
