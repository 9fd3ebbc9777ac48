// Raw cpuid / xgetbv for TensorMath's CPUFeatures (decoding lives in Swift, where it is table-tested).
#include "CKernels.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    // xgetbv with ecx = 0 (XCR0). Encoded as bytes so no -mxsave is needed; only run when OSXSAVE is set.
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void softrl_cpuid_read(softrl_cpuid_raw *out) {
    memset(out, 0, sizeof *out);
    uint32_t a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    out->max_leaf = a;
    memcpy(out->vendor, &b, 4); memcpy(out->vendor + 4, &d, 4); memcpy(out->vendor + 8, &c, 4);
    out->vendor[12] = 0;
    if (a >= 1) {
        __cpuid(1, a, b, c, d);
        out->leaf1_ecx = c; out->leaf1_edx = d;
        uint32_t fam = (a >> 8) & 0xf, mod = (a >> 4) & 0xf;
        if (fam == 0xf) fam += (a >> 20) & 0xff;
        if (fam == 0x6 || fam >= 0xf) mod |= ((a >> 16) & 0xf) << 4;
        out->family = fam; out->model = mod;
        if (c & (1u << 27)) out->xcr0 = read_xcr0();   // OSXSAVE: the OS manages extended state, XGETBV is legal
    }
    if (out->max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        out->leaf7_ebx = b; out->leaf7_ecx = c; out->leaf7_edx = d;
        uint32_t subleaves = a;
        if (subleaves >= 1) { __cpuid_count(7, 1, a, b, c, d); out->leaf7_1_eax = a; }
    }
}

int softrl_kernels_compiled(void) { return 1; }

#else
void softrl_cpuid_read(softrl_cpuid_raw *out) { memset(out, 0, sizeof *out); }
int softrl_kernels_compiled(void) { return 0; }
#endif
