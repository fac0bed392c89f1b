#!/usr/bin/env bash
# Build hubness_fast on a GPU machine and run its GPU tests and benchmarks.
# `tests` runs every test marked gpu (dry run without a GPU: pytest tests -m gpu --collect-only).
#   benchmarks/gpu/device_run.sh OUTDIR [tests] [bench ARGS...]
# Expects python3 with torch/cupy (the device image), and optionally wheels in
# .whl/ (pykeops, keopscore) to install first. Logs and JSON go to OUTDIR.
set -u
out=${1:?output directory}; shift
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv | tee "$out/gpu.txt"
t0=$(date +%s)
cmake -S . -B /tmp/hf-build -GNinja -DPython_EXECUTABLE="$(command -v python3)" \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DCMAKE_BUILD_TYPE=Release -DHUBNESS_FAST_CUDA=ON \
  -DHUBNESS_FAST_CUDA_ARCHS="${ARCHS:-90}" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/hubness_fast" >"$out/build.log" 2>&1 \
  && cmake --build /tmp/hf-build -j 16 >>"$out/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(( $(date +%s) - t0 )) s"
if [ $rc -ne 0 ]; then grep -B2 -A12 -m3 "error" "$out/build.log" | head -80; exit 1; fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
python3 -c "import hubness_fast as hf; from hubness_fast import _native as b; print('HAS_CUDA', hf.HAS_CUDA, 'devices', b.cuda.device_count())"
while [ $# -gt 0 ]; do
  case "$1" in
    tests) shift
      timeout 300 python3 -m pytest tests -m gpu -q -p no:cacheprovider -x -rs 2>&1 | tee "$out/tests.log" | tail -25 ;;
    bench) shift; args=()
      while [ $# -gt 0 ] && [ "$1" != "tests" ] && [ "$1" != "bench" ]; do args+=("$1"); shift; done
      python3 -m benchmarks.gpu_bench "${args[@]}" 2>&1 | tail -20 ;;
    *) echo "unknown step $1"; exit 2 ;;
  esac
done
