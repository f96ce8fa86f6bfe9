#!/usr/bin/env bash
# The MPI bootstrap of the GPU workers, without a GPU: mpirun -np 4 on one
# machine runs tests/gpu/mpi_bootstrap_probe.cpp (the real mpi_bootstrap with
# a stated GPU count and the real ncclGetUniqueId) and checks rank, local
# rank, device and sharing mode of every rank, that rank 0's id reached all
# four, and that failures end the whole job quickly with a non-zero status.
#
# Usage: test_mpi_bootstrap.sh MPIEXEC PROBE
set -uo pipefail
mpiexec=$1 probe=$2
run_as_root=()
[ "$(id -u)" -eq 0 ] && run_as_root=(--allow-run-as-root)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Runs the probe on 4 ranks; sets $out, $rc and $secs.
run4() {
  local t0=$SECONDS
  out=$(timeout 120 "$mpiexec" -np 4 --oversubscribe "${run_as_root[@]}" "$probe" "$@" </dev/null 2>&1)
  rc=$?
  secs=$((SECONDS - t0))
  printf '%s\n' "--- mpirun -np 4 probe $* (exit $rc, $secs s)" "$out"
}

# The GPU-sharing mode auto chooses for 4 ranks on 2 GPUs depends on the NCCL version.
expect_sharing_2gpus() {
  if [ "$1" -ge 23003 ]; then echo multi-rank; else echo host-per-rank; fi
}

run4 --devices 2
[ "$rc" -eq 0 ] || fail "the bootstrap on 4 ranks exited $rc"
[ "$(grep -c '^probe ' <<<"$out")" -eq 4 ] || fail "expected 4 probe lines"
nccl=$(sed -n 's/^probe .* nccl=\([0-9]*\) .*/\1/p' <<<"$out" | head -1)
for r in 0 1 2 3; do
  line=$(grep "^probe rank=$r " <<<"$out")
  [ -n "$line" ] || { fail "rank $r printed nothing"; continue; }
  want="world=4 local=$r local_size=4 nodes=1 device=$((r % 2)) sharing=$(expect_sharing_2gpus "${nccl:-0}")"
  [[ "$line" == *"$want"* ]] || fail "rank $r: '$line' lacks '$want'"
done
ids=$(sed -n 's/^probe .* id=\([0-9a-f]*\)$/\1/p' <<<"$out" | sort -u)
[ "$(wc -l <<<"$ids")" -eq 1 ] && [ -n "$ids" ] || fail "the ranks received different ids: $ids"
grep -q "^atp-mpi: 4 rank(s) on 1 node(s), 4 on this node with 2 GPU(s), NCCL [0-9.]*; GPU sharing" <<<"$out" ||
  fail "rank 0 did not print the ranks, GPUs, NCCL version and sharing mode"

run4 --devices 4
[ "$rc" -eq 0 ] && [ "$(grep -c 'sharing=none' <<<"$out")" -eq 4 ] || fail "4 ranks on 4 GPUs must share nothing"

ATP_GPU_SHARING=bogus run4 --devices 2
[ "$rc" -ne 0 ] && grep -q "ATP_GPU_SHARING: unknown GPU-sharing mode 'bogus'" <<<"$out" ||
  fail "a bad ATP_GPU_SHARING must stop the job and be named"

run4 --devices 2 --fail-id
[ "$rc" -ne 0 ] && grep -q "rank 0 could not create the ncclUniqueId: probe: --fail-id" <<<"$out" ||
  fail "a failed ncclGetUniqueId on rank 0 must stop every rank with its reason"
[ "$secs" -lt 60 ] || fail "the failed id took $secs s to stop the job"

run4 --devices 2 --die-rank 2
[ "$rc" -ne 0 ] || fail "a rank dying in the bootstrap must fail the job"
[ "$secs" -lt 60 ] || fail "a rank dying in the bootstrap took $secs s to stop the job"

run4 --devices 2 --die-after 1
[ "$rc" -ne 0 ] || fail "a rank exiting 5 after the bootstrap must fail the job"
[ "$secs" -lt 25 ] || fail "the other ranks were not stopped ($secs s; they sleep 30 s)"

if [ "$failures" -ne 0 ]; then
  echo "test_mpi_bootstrap: $failures check(s) failed"
  exit 1
fi
echo "test_mpi_bootstrap: all checks passed"
