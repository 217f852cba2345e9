# Sourced by gpu-check.sh and gpu-long.sh on a GPU machine: puts the CUDA libraries on the
# library path and links the paths baked into binaries built elsewhere (gpu-build.sh).
# Where the driver's and the toolkit's libraries are: cudarc links libcuda, libnvrtc,
# libcublas(Lt) and libcurand by name, and dfdx compiles a few kernels at run time with
# nvrtc against the headers in /usr/local/cuda/include (the path baked in at build time).
for lib in libcuda.so.1 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13 libcurand.so.10; do
    dir=$(find /usr/local/nvidia /usr/local/cuda* /usr/lib/x86_64-linux-gnu /opt /usr/local/lib \
        -name "$lib" -not -path '*/stubs/*' 2>/dev/null | head -1 | xargs -r dirname)
    [ -n "$dir" ] && export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
if [ ! -f /usr/local/cuda/include/cuda_fp16.h ]; then
    inc=$(find / -name cuda_fp16.h -path '*include*' -not -path '/proc/*' 2>/dev/null | head -1 | xargs -r dirname)
    [ -n "$inc" ] && [ ! -e /usr/local/cuda/include ] && mkdir -p /usr/local/cuda && ln -s "$inc" /usr/local/cuda/include
fi
# The binaries find MNIST under the repository they were built in, and dfdx's run-time
# kernels include headers from its build folder there: link both paths to what was carried.
if [ -n "${GPU_BIN:-}" ]; then
    built_in=$(cat "$GPU_BIN/built-in")
    [ -d "$built_in/data/mnist" ] || { mkdir -p "$(dirname "$built_in")" && ln -sfn "$PWD" "$built_in"; }
    dfdx_out=$(cat "$GPU_BIN/dfdx-out.path")
    [ -d "$dfdx_out" ] || { mkdir -p "$(dirname "$dfdx_out")" && ln -sfn "$(readlink -f "$GPU_BIN/dfdx-out")" "$dfdx_out"; }
fi
