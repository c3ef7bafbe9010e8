#!/usr/bin/env bash
# Print CMAKE_ARGS for building llama-cpp-python on *this* CPU.
# Why: the default GGML_NATIVE=ON build enables AMX on VMs that advertise it but cannot run it, and
# segfaults on the first real prompt (see docs). We turn native detection off, enable only the
# instruction sets /proc/cpuinfo lists, and never AMX.
set -euo pipefail
flags=" $(grep -m1 -E '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() { [[ "$flags" == *" $1 "* ]]; }
args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
on() { if has "$1"; then args+=" -D$2=ON"; else args+=" -D$2=OFF"; fi; }
on avx GGML_AVX
on avx2 GGML_AVX2
on fma GGML_FMA
on f16c GGML_F16C
on bmi2 GGML_BMI2
on avx_vnni GGML_AVX_VNNI
on avx512f GGML_AVX512
on avx512_vnni GGML_AVX512_VNNI
on avx512vbmi GGML_AVX512_VBMI
on avx512_bf16 GGML_AVX512_BF16
echo "$args"
