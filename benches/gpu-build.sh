#!/usr/bin/env bash
# Builds the `cuda` feature on a machine with no GPU and no CUDA toolkit, for a GPU machine
# with no Rust (the lent ones): takes CUDA 13.0's compiler, headers and libraries from NVIDIA's
# PyPI wheels, links against a stub libcuda (the driver's library, which the GPU machine has),
# and leaves the stripped `sphereface` binary and the CUDA test binary in target/gpu-bin, to
# be carried there and run by `GPU_BIN=target/gpu-bin bash benches/gpu-check.sh`.
#
# The kernels are compiled to PTX for CUDA_COMPUTE_CAP (default 90, Hopper); dfdx compiles a
# few more at run time with nvrtc against /usr/local/cuda/include, the path baked in here, so
# the toolkit is linked at /usr/local/cuda when nothing is there (needs root). The binaries
# need libcublas.so.13, libnvrtc.so.13 and libcurand.so.10 at run time (CUDA 13 on the GPU
# machine; gpu-check.sh finds them). About 15 minutes on 2 cores, 1.6 GB of wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tk=$root/target/cuda-toolkit
if [ ! -x /usr/local/cuda/bin/nvcc ]; then
    [ -e /usr/local/cuda ] && { echo "/usr/local/cuda exists without bin/nvcc; move it away first" >&2; exit 1; }
    mkdir -p "$tk/wheels"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$tk/wheels" \
        "nvidia-cuda-nvcc==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*" \
        "nvidia-cuda-cccl==13.0.*" \
        "nvidia-cuda-nvrtc==13.0.*" "nvidia-cublas==13.0.*" "nvidia-curand==10.4.*"
    for w in "$tk"/wheels/*.whl; do unzip -q -o "$w" -d "$tk/x"; done
    ln -s "$tk/x/nvidia/cu13" /usr/local/cuda
fi
cuda=$(readlink -f /usr/local/cuda)
for l in cublas cublasLt curand nvrtc cudart; do
    [ -e "$cuda/lib/lib$l.so" ] || ln -s "$(cd "$cuda/lib" && ls lib$l.so.* | head -1)" "$cuda/lib/lib$l.so"
done
# The driver API's entry points that cudarc declares, as empty functions: enough to link.
if [ ! -f "$cuda/lib64/stubs/libcuda.so" ]; then
    mkdir -p "$cuda/lib64/stubs"
    src=$(find ~/.cargo/registry/src -path '*cudarc-0.9.15/src/driver/sys.rs' | head -1)
    grep -ohE 'pub fn cu[A-Za-z0-9_]+' "$src" | awk '{print "void " $3 "(void) {}"}' | sort -u >"$tk/stub.c"
    gcc -shared -fPIC -o "$cuda/lib64/stubs/libcuda.so" -Wl,-soname,libcuda.so.1 "$tk/stub.c"
fi
# dfdx's build script asks nvidia-smi for the GPU's compute capability.
mkdir -p "$tk/bin"
printf '#!/bin/sh\necho compute_cap\necho %s\n' "$(echo "${CUDA_COMPUTE_CAP:-90}" | sed 's/\(.\)$/.\1/')" >"$tk/bin/nvidia-smi"
chmod +x "$tk/bin/nvidia-smi"
export CUDA_ROOT=/usr/local/cuda PATH="/usr/local/cuda/bin:$tk/bin:$PATH"
cargo build --release -p sphereface-core --features cuda --bin sphereface --target-dir target/cuda
tests=$(cargo test --release -p sphereface-core --features cuda --test cuda --no-run --target-dir target/cuda 2>&1 \
    | tee /dev/stderr | grep -o 'target/cuda/release/deps/cuda-[0-9a-f]*' | tail -1)
rm -rf target/gpu-bin && mkdir -p target/gpu-bin
strip -o target/gpu-bin/sphereface target/cuda/release/sphereface
strip -o target/gpu-bin/cuda-tests "$tests"
# What the binaries look for at run time at the paths of this build: MNIST under the
# repository they were built in, and the .cuh headers that dfdx's run-time kernels include
# from its build folder. gpu-check.sh links both paths there.
echo "$root" >target/gpu-bin/built-in
out=$(ls -td target/cuda/release/build/dfdx-*/out | head -1)
cp -r "$out" target/gpu-bin/dfdx-out
echo "$root/$out" >target/gpu-bin/dfdx-out.path
du -sh target/gpu-bin/*
