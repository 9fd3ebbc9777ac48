// The AVX2/FMA and AVX-512 variants of the hot non-BLAS loops: kernels_body.h compiled twice under
// `#pragma clang attribute` target sections, so only these functions use the wider instructions. Callers
// (TensorMath/SIMDDispatch.swift) pick a variant after checking cpuid and XGETBV.
#include "CKernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__clang__)
#include <math.h>
#include <string.h>

#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)
#define KS avx2
#define KW 8
#include "kernels_body.h"
#undef KS
#undef KW
#pragma clang attribute pop

#pragma clang attribute push (__attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)
#define KS avx512
#define KW 16
#include "kernels_body.h"
#undef KS
#undef KW
#pragma clang attribute pop

#endif
