#!/usr/bin/env bash
# The GPU check (docs/cuda.md): the CUDA kernels against the CPU kernels, the CUDA backend end to
# end against the CPU backend, and the GPU benchmark, on a lent H200, in one call.
#
# The lent machine has CUDA 13 but none of Debian's -dev packages, so the binaries are built
# here and carried with the libraries they need that are not part of its base system (abseil,
# OpenBLAS for the CPU reference, libstdc++); cuBLAS and the driver are the machine's own.
#
#   scripts/gpu-check.sh bundle   # here: builds and packs build/gpu-bundle/rattn-gpu.tar.xz
#   scripts/gpu-check.sh run      # there: unpacks, probes, tests, benchmarks; report in $OUT
#
# The device call: run(command="bash scripts/gpu-check.sh run", carry=["build/gpu-bundle"],
# timeout_s=540). `run` ends within about 8 minutes: each stage has its own time limit, and the
# report says which stage ran out. It exits non-zero when a test fails or skips on the GPU.
set -uo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
bundle_dir=build/gpu-bundle
bundle=$bundle_dir/rattn-gpu.tar.xz
tests=(cuda_attention_test cuda_elementwise_test cuda_linear_attention_test cuda_sampling_test
  cuda_backend_test)

case "$mode" in
bundle)
  set -e
  [ -f build/release/build.ninja ] || cmake --preset release
  cmake --build build/release --target "${tests[@]}" cuda_benchmark
  stage=$(mktemp -d)
  mkdir -p "$stage/bin" "$stage/lib"
  for t in "${tests[@]}"; do cp "$(find build/release -name "$t" -type f -perm -u+x | head -1)" "$stage/bin/"; done
  cp build/release/engine/cuda_benchmark "$stage/bin/"
  # Every shared library the binaries load except glibc's own and CUDA's (the machine has both).
  for b in "$stage"/bin/*; do ldd "$b"; done | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libcublas*|libcudart*) ;;
      *) cp -L "$lib" "$stage/lib/" ;;
    esac
  done
  mkdir -p "$bundle_dir"
  tar -C "$stage" -cJf "$bundle" bin lib
  rm -rf "$stage"
  echo "gpu-check: $(du -h "$bundle" | cut -f1) bundle at $bundle (carry $bundle_dir)"
  ;;
run)
  out=${OUT:-$PWD/gpu-report}
  mkdir -p "$out"
  log=$out/gpu-check.log
  report=$out/gpu-report.md
  work=/tmp/rattn-gpu
  start=$SECONDS
  exec > >(tee -a "$log") 2>&1
  failed=0
  summary=()
  note() { summary+=("$1"); echo "== $1"; }

  echo "== probe"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  command -v nvcc >/dev/null && nvcc --version | tail -2
  uname -a; ldd --version | head -1
  [ -f "$bundle" ] || { echo "gpu-check: no $bundle (run 'scripts/gpu-check.sh bundle' here first and carry $bundle_dir)"; exit 2; }
  rm -rf "$work" && mkdir -p "$work" && tar -C "$work" -xJf "$bundle"
  # cuBLAS 13 from the toolkit, or from the nvidia-cublas wheel the image's Python carries.
  cublas_dir=""
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib; do
    [ -e "$d/libcublas.so.13" ] && { cublas_dir=$d; break; }
  done
  if [ -z "$cublas_dir" ]; then
    cublas_dir=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
  fi
  echo "cuBLAS from: ${cublas_dir:-not found}"
  export LD_LIBRARY_PATH="$work/lib${cublas_dir:+:$cublas_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if ! ldd "$work/bin/cuda_backend_test" | grep -q "not found"; then
    echo "all libraries resolve"
  else
    ldd "$work/bin/cuda_backend_test" | grep "not found"
    note "FAIL: libraries missing on this machine"
    failed=1
  fi

  echo "== tests"
  for t in "${tests[@]}"; do
    timeout 150 "$work/bin/$t" --gtest_brief=0 > "$work/$t.out" 2>&1
    rc=$?
    passed=$(grep -c '^\[       OK \]' "$work/$t.out")
    # Each skip and failure is listed twice (as it happens, with its time, and in the summary).
    skipped=$(grep -cE '^\[  SKIPPED \] .* \([0-9]+ ms\)$' "$work/$t.out")
    failures=$(grep -cE '^\[  FAILED  \] .* \([0-9]+ ms\)$' "$work/$t.out")
    grep -E '^\[  FAILED  \]|Failure|error|skipped:' "$work/$t.out" | head -40
    if [ "$rc" -ne 0 ] || [ "$skipped" -gt 0 ]; then failed=1; fi
    note "$t: rc $rc, $passed passed, $failures failed, $skipped skipped"
  done

  echo "== benchmark"
  left=$((470 - (SECONDS - start)))
  if [ "$left" -gt 60 ]; then
    timeout "$left" "$work/bin/cuda_benchmark" --report="$out/benchmark.md"
    rc=$?
    [ "$rc" -ne 0 ] && failed=1
    note "cuda_benchmark: rc $rc ($((SECONDS - start)) s since start)"
  else
    note "cuda_benchmark: not run, only $left s left"
    failed=1
  fi

  {
    echo "# rattn GPU check, $(date -u +%Y-%m-%dT%H:%MZ), $((SECONDS - start)) s"
    echo
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
    echo
    for line in "${summary[@]}"; do echo "- $line"; done
    echo
    [ -f "$out/benchmark.md" ] && cat "$out/benchmark.md"
  } > "$report"
  for t in "${tests[@]}"; do cp "$work/$t.out" "$out/" 2>/dev/null; done
  # $OUT returns at most 8 files: the report, the log, the benchmark and the test outputs.
  echo
  cat "$report"
  exit "$failed"
  ;;
*)
  echo "usage: $0 bundle|run" >&2
  exit 2
  ;;
esac
