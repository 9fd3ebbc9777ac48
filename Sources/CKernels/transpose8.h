// An 8 x 8 transpose of 32-bit lanes held in 8 vectors of 8 lanes (floats or bf16 pair words): afterwards out[q]
// holds lane q of r[0], ..., r[7]. Three rounds of two-source shuffles (lane pairs, quads, halves), which the
// compiler turns into unpack/permute instructions of whatever ISA the including function targets.
#ifndef SOFTRL_TRANSPOSE8_H
#define SOFTRL_TRANSPOSE8_H

#define SR_TRANSPOSE8(V, r, out) do { \
    V t_[8], u_[8]; \
    for (int i_ = 0; i_ < 8; i_ += 2) { \
        t_[i_] = __builtin_shufflevector(r[i_], r[i_ + 1], 0, 8, 1, 9, 4, 12, 5, 13); \
        t_[i_ + 1] = __builtin_shufflevector(r[i_], r[i_ + 1], 2, 10, 3, 11, 6, 14, 7, 15); \
    } \
    for (int i_ = 0; i_ < 8; i_ += 4) { \
        u_[i_] = __builtin_shufflevector(t_[i_], t_[i_ + 2], 0, 1, 8, 9, 4, 5, 12, 13); \
        u_[i_ + 1] = __builtin_shufflevector(t_[i_], t_[i_ + 2], 2, 3, 10, 11, 6, 7, 14, 15); \
        u_[i_ + 2] = __builtin_shufflevector(t_[i_ + 1], t_[i_ + 3], 0, 1, 8, 9, 4, 5, 12, 13); \
        u_[i_ + 3] = __builtin_shufflevector(t_[i_ + 1], t_[i_ + 3], 2, 3, 10, 11, 6, 7, 14, 15); \
    } \
    for (int i_ = 0; i_ < 4; i_++) { \
        out[i_] = __builtin_shufflevector(u_[i_], u_[i_ + 4], 0, 1, 2, 3, 8, 9, 10, 11); \
        out[i_ + 4] = __builtin_shufflevector(u_[i_], u_[i_ + 4], 4, 5, 6, 7, 12, 13, 14, 15); \
    } \
} while (0)

#endif
