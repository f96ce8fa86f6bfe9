#!/usr/bin/env bash
# scripts/gpu-verify.sh cannot pass without checking. Without a GPU it stops
# within seconds with one line; with --assume-gpu --skip-build it is run
# against fake build folders whose programs are small shell stubs:
#   - atp-compare missing                      -> non-zero, names it
#   - atp-compare that compares nothing        -> non-zero: zero compared is a failure
#   - a smoke test that fails (duplicate GPU)  -> p > 1 skipped with the reason, non-zero
#   - stubs that compare and match             -> exit 0, summary.tsv, golden.tgz
#   - the same with no time left (--budget)    -> skipped, non-zero
# (the last one shows the failures above are not the script failing anyway).
#
# Usage: test_gpu_verify.sh SOURCE_DIR
set -uo pipefail
src=$1
verify=$src/scripts/gpu-verify.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# run NAME [args...]: runs gpu-verify with output in $work/NAME.out; sets $rc and $secs.
run() {
  local name=$1 t0=$SECONDS
  shift
  "$@" >"$work/$name.out" 2>&1 </dev/null
  rc=$?
  secs=$((SECONDS - t0))
  echo "--- $name: exit $rc in $secs s"
  sed 's/^/  | /' "$work/$name.out" | tail -12
}

# 1. No GPU: PATH without nvidia-smi; one line, exit 2, within seconds, nothing built.
nosmi=$work/nosmi-bin
mkdir -p "$nosmi"
for tool in bash cmake nproc mkdir dirname sed grep tee head tail cat awk tr timeout python3 env; do
  p=$(command -v "$tool") && ln -sf "$p" "$nosmi/$tool"
done
run no-gpu env PATH="$nosmi" bash "$verify" --build "$work/never-built"
[ "$rc" -eq 2 ] || fail "without nvidia-smi gpu-verify exited $rc, expected 2"
[ "$secs" -le 10 ] || fail "without a GPU gpu-verify took $secs s"
[ "$(wc -l <"$work/no-gpu.out")" -eq 1 ] || fail "without a GPU the output is not one line"
grep -q "^gpu-verify.sh: no usable GPU: nvidia-smi is not on PATH" "$work/no-gpu.out" || fail "no reason given"
[ -e "$work/never-built" ] && fail "a build folder was created without a GPU"

# 2. An nvidia-smi that cannot talk to the driver: the same, with its words.
cat >"$nosmi/nvidia-smi" <<'SH'
#!/bin/sh
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
exit 9
SH
chmod +x "$nosmi/nvidia-smi"
run broken-driver env PATH="$nosmi" bash "$verify" --build "$work/never-built"
[ "$rc" -eq 2 ] && grep -q "nvidia-smi failed (exit 9): NVIDIA-SMI has failed" "$work/broken-driver.out" ||
  fail "a failing nvidia-smi was not reported as such"

# A fake build folder: stub programs listed in gpu-verify-programs.txt.
# make_build NAME SMOKE_EXIT COMPARE_MODE   (COMPARE_MODE: match | nothing | absent)
make_build() {
  local b=$work/$1 smoke_exit=$2 mode=$3
  mkdir -p "$b/bin"
  cat >"$b/bin/atp-launch" <<SH
#!/bin/sh
echo "atp-launch: 2 rank(s), 1 GPU(s), NCCL 2.28.9; GPU sharing 'host-per-rank': stub"
[ $smoke_exit -eq 0 ] || echo "vm:1:1 [0] init.cc:904 NCCL WARN Duplicate GPU detected : rank 1 and rank 0 both on CUDA device 1000"
exit $smoke_exit
SH
  printf '#!/bin/sh\nexit 0\n' >"$b/bin/atp-ch01-ranks-and-collectives-gpu"
  printf '#!/bin/sh\nexit 0\n' >"$b/bin/atp-ch01-ranks-and-collectives"
  cat >"$b/bin/atp-compare" <<SH
#!/bin/sh
# stub atp-compare ($mode)
[ "\$1" = --list-chapters ] && { printf '00 1 2\n01 1 2 4\n'; exit 0; }
chapter="" tp="" summary=""
while [ \$# -gt 0 ]; do
  case "\$1" in --chapter) chapter=\$2; shift ;; --tp) tp=\$2; shift ;; --summary) summary=\$2; shift ;; esac
  shift
done
echo "stub compare chapter \$chapter p=\$tp"
[ "$mode" = match ] && echo "\$chapter \$tp 5 5 0 0" >>"\$summary"
exit 0
SH
  chmod +x "$b"/bin/*
  [ "$mode" = absent ] && rm "$b/bin/atp-compare"
  printf '%s\n' "$b/bin/atp-launch" "$b/bin/atp-compare" "$b/bin/atp-ch01-ranks-and-collectives" \
    "$b/bin/atp-ch01-ranks-and-collectives-gpu" >"$b/gpu-verify-programs.txt"
}

# 3. atp-compare was never built.
make_build no-compare 0 absent
run no-compare bash "$verify" --assume-gpu --skip-build --build "$work/no-compare" --out "$work/no-compare-out"
[ "$rc" -ne 0 ] && grep -q "missing program(s): .*/atp-compare" "$work/no-compare.out" ||
  fail "a tree without atp-compare did not fail naming it"
grep -q "every configuration matched" "$work/no-compare.out" && fail "a tree without atp-compare claimed success"

# 4. An atp-compare that runs and exits 0 but compares nothing.
make_build compares-nothing 0 nothing
run compares-nothing bash "$verify" --assume-gpu --skip-build --build "$work/compares-nothing" \
  --out "$work/compares-nothing-out"
[ "$rc" -ne 0 ] && grep -q "0 configuration(s) compared" "$work/compares-nothing.out" &&
  grep -q "no configuration was compared" "$work/compares-nothing.out" ||
  fail "runs that compared nothing were not a failure"

# 5. The smoke test fails: every p > 1 is skipped with the reason; p = 1 still runs.
make_build smoke-fails 1 match
run smoke-fails bash "$verify" --assume-gpu --skip-build --build "$work/smoke-fails" --out "$work/smoke-fails-out"
summary=$work/smoke-fails-out/summary.tsv
[ "$rc" -ne 0 ] || fail "a failed smoke test still passed"
grep -q "smoke: FAILED: .*Duplicate GPU detected" "$work/smoke-fails.out" || fail "the smoke failure's reason is not shown"
[ "$(grep -c $'\tskipped\t' "$summary")" -eq 3 ] || fail "expected 3 skipped rows (p = 2, 2, 4) in summary.tsv"
[ "$(grep -c $'\tyes\t' "$summary")" -eq 2 ] || fail "expected the 2 rows with p = 1 to run and match"

# 6. Everything matches: exit 0, one summary row per configuration, the golden files packed.
make_build all-match 0 match
run all-match bash "$verify" --assume-gpu --skip-build --build "$work/all-match" --out "$work/all-match-out"
[ "$rc" -eq 0 ] || fail "matching stubs did not pass (exit $rc)"
[ "$(grep -c $'\tyes\t' "$work/all-match-out/summary.tsv")" -eq 5 ] || fail "expected 5 matched rows"
head -1 "$work/all-match-out/summary.tsv" | grep -q $'^chapter\tp\ttensors\tbitwise_equal\tseconds' ||
  fail "summary.tsv has no header"
# The listing goes to a file first: `tar | grep -q` fails under pipefail when grep exits early and tar gets SIGPIPE.
tar tzf "$work/all-match-out/golden.tgz" > "$work/golden.list" || fail "golden.tgz cannot be listed"
grep -q "tests/golden/" "$work/golden.list" || fail "golden.tgz does not hold tests/golden"
[ -s "$work/all-match-out/verify.log" ] && [ -s "$work/all-match-out/smoke.log" ] ||
  fail "verify.log and smoke.log are not in --out"
tail -1 "$work/all-match-out/verify.log" | grep -q "every configuration matched" || fail "verify.log lacks its last line"

# 7. Out of time (--budget shorter than one run's timeout): every run skipped, never a pass.
run no-time bash "$verify" --assume-gpu --skip-build --budget 10 --build "$work/all-match" --out "$work/no-time-out"
[ "$rc" -ne 0 ] && [ "$(grep -c 'out of time' "$work/no-time-out/summary.tsv")" -eq 5 ] ||
  fail "runs beyond --budget were not skipped as such"

if [ "$failures" -ne 0 ]; then
  echo "test_gpu_verify: $failures check(s) failed"
  exit 1
fi
echo "test_gpu_verify: gpu-verify.sh fails without a GPU, without atp-compare, when nothing is compared and when the smoke test fails"
