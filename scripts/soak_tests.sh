#!/usr/bin/env bash
# Repeat the whole test suite from fresh clones and print a table of failures per test.
#
#   scripts/soak_tests.sh [-n RUNS] [-j PARALLEL] [--cpu-hogs K] [--order random|fixed]
#                         [--ref REF] [--keep] [-- PYTEST_ARGS...]
#
# Every run is what a new user does: `git clone` of REF (default HEAD) into a temporary
# directory, then the README's test command, `make test`, with a JUnit report added.
#   -n RUNS        runs in total (default 5)
#   -j PARALLEL    runs at the same time (default 1; 2 = "a second copy of the suite running")
#   --cpu-hogs K   K busy-looping processes during the runs ("stress"-like CPU load; default 0)
#   --order        random (default): pytest-randomly with a new seed per run, printed;
#                  fixed: `-p no:randomly`, the file order
#   --keep         keep the clones (the logs and JUnit reports are always kept)
# Output: one line per run (seed, result, duration, load average) and, at the end, a table
# of every test that failed at least once, with its failure count and the runs it failed in.
# Exit status 1 when any run failed. Everything stays in $SOAK_DIR
# (default /tmp/kasparro-soak-<time>); a failed run's `log` holds pytest's report.
set -euo pipefail

runs=5 parallel=1 hogs=0 order=random ref=HEAD keep=0
pytest_args=()
while (($#)); do
  case "$1" in
    -n) runs=$2; shift 2 ;;
    -j) parallel=$2; shift 2 ;;
    --cpu-hogs) hogs=$2; shift 2 ;;
    --order) order=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; pytest_args=("$@"); break ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
case "$order" in random|fixed) ;; *) echo "--order must be random or fixed" >&2; exit 2 ;; esac

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --short "$ref")
out=${SOAK_DIR:-/tmp/kasparro-soak-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
: >"$out/runs.txt"
echo "soak: $runs runs of $commit, $parallel at a time, $hogs CPU hogs, order $order -> $out"

hog_pids=()
stop_hogs() { for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_hogs EXIT
for _ in $(seq 1 "$hogs"); do
  python3 -c 'while True: pass' &
  hog_pids+=("$!")
done

one_run() {
  local i=$1 seed=$2 dir="$out/run-$1" started rc args
  started=$(date +%s)
  git clone --quiet "$repo" "$dir/clone"
  # Nothing beside the clone: the suite reads only what the repository holds.
  git -C "$dir/clone" checkout --quiet "$commit"
  args="--junitxml=$dir/junit.xml"
  if [[ $order == random ]]; then
    args+=" -p randomly --randomly-seed=$seed"
  else
    args+=" -p no:randomly"
  fi
  rc=0
  (cd "$dir/clone" && env -u VIRTUAL_ENV make test PYTEST_ARGS="$args ${pytest_args[*]:-}") \
    >"$dir/log" 2>&1 || rc=$?
  printf 'run %-3s seed %-10s %-4s %5ss  load %s\n' "$i" "$seed" \
    "$([[ $rc == 0 ]] && echo pass || echo FAIL)" "$(($(date +%s) - started))" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/runs.txt"
  if [[ $keep == 0 ]]; then rm -rf "$dir/clone"; fi
}

run_pids=()
for i in $(seq 1 "$runs"); do
  seed=-
  if [[ $order == random ]]; then seed=$((RANDOM << 15 | RANDOM)); fi
  one_run "$i" "$seed" &
  run_pids+=("$!")
  while (($(jobs -rp | wc -l) - ${#hog_pids[@]} >= parallel)); do wait -n || true; done
done
for pid in "${run_pids[@]}"; do wait "$pid" || true; done

python3 - "$out" <<'PY'
import collections
import glob
import os
import sys
import xml.etree.ElementTree as ET

out = sys.argv[1]
failures: dict[str, list[str]] = collections.defaultdict(list)
runs = sorted(glob.glob(os.path.join(out, "run-*")), key=lambda d: int(d.rsplit("-", 1)[1]))
no_report = []
for run in runs:
    report = os.path.join(run, "junit.xml")
    if not os.path.exists(report):
        no_report.append(os.path.basename(run))
        continue
    for case in ET.parse(report).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            name = f"{case.get('classname')}::{case.get('name')}"
            failures[name].append(os.path.basename(run))
with open(os.path.join(out, "runs.txt")) as f:
    lines = f.read().splitlines()
failed_runs = sum(" FAIL " in line for line in lines)
print(f"\n{len(lines)} runs, {failed_runs} failed")
if no_report:
    print("no JUnit report (the suite did not start; see its log):", ", ".join(no_report))
if failures:
    width = max(len(name) for name in failures)
    print(f"\n{'test':<{width}}  failures  runs")
    for name, where in sorted(failures.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"{name:<{width}}  {len(where):>8}  {', '.join(where)}")
sys.exit(1 if failed_runs or no_report else 0)
PY
