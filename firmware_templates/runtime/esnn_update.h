/*
 * Specialised neuron updates (steps 3-6 of docs/fixed-point.md) for voltage-based layers whose
 * decay multiplier and reset value are the same for every neuron and whose arithmetic the
 * generator proved to fit 32 bits (ESNN_FAST32). The generated esnn_model.c instantiates
 * esnn_update_lif once per such layer with literal constants, so the shift, the decay, the
 * state width and the reset rule become immediates and the per-neuron work is loads, one
 * multiply, a saturation, a compare and a store. Results are bit-identical to the generic
 * update in esnn.c (tests compare both with the golden model on every state).
 */
#ifndef ESNN_UPDATE_H
#define ESNN_UPDATE_H

#include "esnn.h"

#if defined(__GNUC__)
#define ESNN_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ESNN_ALWAYS_INLINE static inline
#endif

/*
 * v + decay(v, alpha) - v, i.e. the contract's decay(v, alpha) = floor((v * alpha + 2^15) / 2^16),
 * exact for |v| < 2^30 and 0 <= alpha < 2^16, in 32-bit arithmetic. With alpha > 2^15 it is
 * v + floor((v * c + 2^31) / 2^32) for c = -(2^16 - alpha) * 2^16 (a negative int32), because
 * v * alpha = v * 2^16 - v * (2^16 - alpha):
 *  - Cortex-M4 (DSP): one smmlar (v + the rounded high word of v * c);
 *  - Cortex-M3: one smlal into (hi, lo) = (v, 2^31);
 *  - RV32 with M: mulh and mul (the rounding is bit 31 of the low word);
 * and otherwise smmulr(2v, alpha * 2^15) on the M4. Elsewhere: v = hi * 2^16 + lo with
 * lo = v & 0xffff, so the result is hi * alpha + floor((lo * alpha + 2^15) / 2^16), whose
 * second product fits uint32.
 */
ESNN_ALWAYS_INLINE int32_t esnn_decay_q16(int32_t v, int32_t alpha)
{
#if defined(__GNUC__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__))
    if (alpha > 32768) {
        int32_t c = (int32_t)((uint32_t)(alpha - 65536) << 16); /* -(2^16 - alpha) * 2^16 */
#if defined(__ARM_FEATURE_DSP)
        int32_t r;
        __asm__("smmlar %0, %1, %2, %1" : "=r"(r) : "r"(v), "r"(c));
        return r;
#else
        uint32_t lo = 0x80000000u;
        int32_t hi = v;
        __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(v), "r"(c));
        (void)lo;
        return hi;
#endif
    }
#endif
#if defined(__riscv_mul) && defined(__riscv_xlen) && __riscv_xlen == 32
    if (alpha > 32768) { /* mul and mulh: the rounding is bit 31 of the low word */
        int32_t c = (int32_t)((uint32_t)(alpha - 65536) << 16);
        int64_t p = (int64_t)v * c;
        return v + (int32_t)(p >> 32) + (int32_t)((uint32_t)p >> 31);
    }
#endif
#if defined(__GNUC__) && defined(__ARM_ARCH_7EM__) && defined(__ARM_FEATURE_DSP)
    {
        int32_t r;
        __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"((int32_t)((uint32_t)v << 1)), "r"(alpha << 15));
        return r;
    }
#else
    {
        uint32_t low = ((uint32_t)v & 0xffffu) * (uint32_t)alpha + 0x8000u;
#if defined(__GNUC__)
        int32_t high = (v >> 16) * alpha; /* GCC and Clang shift signed values arithmetically: floor */
#else
        int32_t high = (v >= 0 ? v / 65536 : -((-(v + 1)) / 65536) - 1) * alpha;
#endif
        return high + (int32_t)(low >> 16);
    }
#endif
}

/* Clamp to [-2^(bits-1), 2^(bits-1) - 1]: one ssat on ARMv7-M for the usual widths. */
ESNN_ALWAYS_INLINE int32_t esnn_saturate_bits(int32_t x, unsigned bits)
{
#if defined(__GNUC__) && defined(__ARM_FEATURE_SAT)
    int32_t r;
    if (bits == 24u) {
        __asm__("ssat %0, #24, %1" : "=r"(r) : "r"(x));
        return r;
    }
    if (bits == 16u) {
        __asm__("ssat %0, #16, %1" : "=r"(r) : "r"(x));
        return r;
    }
#endif
    {
        int32_t hi = (int32_t)(((uint32_t)1 << (bits - 1u)) - 1u), lo = -hi - 1;
        return x > hi ? hi : (x < lo ? lo : x);
    }
}

/* One neuron: u = saturate(decay(v) + x); spike if u > threshold, then reset; store u. */
#define ESNN_LIF_NEURON(X) \
    do { \
        int32_t d_ = alpha == 65536 ? *pv : esnn_decay_q16(*pv, alpha); \
        int32_t u_ = esnn_saturate_bits(d_ + (X) + (has_bias ? pbt[0] : 0), bits); \
        if (u_ > pbt[1]) { \
            out[n_spikes++] = (uint16_t)(pv - v); \
            u_ = subtract ? u_ - pbt[1] : v_reset; \
        } \
        *pv++ = u_; \
        pbt += 2; \
    } while (0)

#if defined(__GNUC__) && defined(__OPTIMIZE__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__))
/*
 * The loop on ARMv7-M for decays above one half, in 12 instructions per neuron on the
 * Cortex-M4 with synaptic input (13 on the M3, whose decay takes a mov and an smlal instead of
 * one smmlar; 10 and 11 without input): ldr acc; ldrd bias, threshold; ldr v; decay;
 * add acc << shift; add bias; ssat; cmp; bgt (taken only by a spike: out of line); str v; cmp;
 * bne. The same arithmetic as the C loop below; `shift` and `bits` are immediates (constants
 * after inlining, hence __OPTIMIZE__). Layers with input that reset by subtraction take two
 * neurons per turn instead (ESNN_ASM_LIF2: 9.5 instructions per neuron on the M4, 10.5 on the
 * M3; without input 8.5 and 9.5).
 */
#if defined(__ARM_FEATURE_DSP)
#define ESNN_ASM_DECAY "smmlar %[u], %[u], %[c], %[u]\n\t"
#define ESNN_ASM_DECAY_REGS
#else
#define ESNN_ASM_DECAY \
    "mov %[lo], #0x80000000\n\t" \
    "smlal %[lo], %[u], %[u], %[c]\n\t"
#define ESNN_ASM_DECAY_REGS , [lo] "=&r"(lo)
#endif

/* One neuron: its (bias, threshold) pair and v, the decay, the synaptic input (ADD_INPUT), the
 * bias, saturation, the threshold test; a spike branches to SPIKE, out of line. */
#define ESNN_ASM_NEURON(ADD_INPUT, SPIKE) \
    "ldrd %[b], %[t], [%[pbt]], #8\n\t" \
    "ldr %[u], [%[pv]]\n\t" ESNN_ASM_DECAY ADD_INPUT "add %[u], %[u], %[b]\n\t" \
    "ssat %[u], %[bits], %[u]\n\t" \
    "cmp %[u], %[t]\n\t" \
    "bgt " SPIKE "\n"

/* The spike path: reset, append the neuron's index ((pv - v0) / 4, in the bias register, free by
 * then) to the output list, return to BACK, where v is stored. */
#define ESNN_ASM_SPIKE(RESET, BACK) \
    RESET "sub %[b], %[pv], %[v0]\n\t" \
          "lsr %[b], %[b], #2\n\t" \
          "strh %[b], [%[po]], #2\n\t" \
          "b " BACK "\n"

/* The loop, with or without the synaptic-input lines and with the reset's instruction. */
#define ESNN_ASM_LIF(LOAD_ACC, ADD_ACC, RESET) \
    __asm__ volatile("1:\n\t" LOAD_ACC ESNN_ASM_NEURON(ADD_ACC, "3f") "2:\n\t" \
                                                                      "str %[u], [%[pv]], #4\n\t" \
                                                                      "cmp %[pv], %[end]\n\t" \
                                                                      "bne 1b\n\t" \
                                                                      "b 4f\n" \
                                                                      "3:\n\t" ESNN_ASM_SPIKE(RESET, "2b") "4:\n\t" \
                     : [pa] "+&r"(acc), [pbt] "+&r"(bt), [pv] "+&r"(pv), [po] "+&r"(out), [a] "=&r"(a), [b] "=&r"(b), \
                       [t] "=&r"(t), [u] "=&r"(u)ESNN_ASM_DECAY_REGS \
                     : [end] "r"(end), [v0] "r"(v), [c] "r"(c), [vr] "r"(v_reset), [sh] "i"(shift), [bits] "i"(bits) \
                     : "cc", "memory")

/* The decay of the named register (for the two-neuron loop). */
#if defined(__ARM_FEATURE_DSP)
#define ESNN_ASM_DECAY_OF(U) "smmlar %[" U "], %[" U "], %[c], %[" U "]\n\t"
#else
#define ESNN_ASM_DECAY_OF(U) \
    "mov %[lo], #0x80000000\n\t" \
    "smlal %[lo], %[" U "], %[" U "], %[c]\n\t"
#endif

/* Neuron k of a pair (registers u<k>, a<k>): decay, the synaptic input, then its (bias,
 * threshold) pair loaded over a<k> (free once added) and t, bias, saturation, the test. */
#define ESNN_ASM_PAIR_INPUT(K) "add %[u" K "], %[u" K "], %[a" K "], lsl %[sh]\n\t"
#define ESNN_ASM_PAIR_NEURON(K, SPIKE, INPUT) \
    ESNN_ASM_DECAY_OF("u" K) \
    INPUT \
    "ldrd %[a" K "], %[t], [%[pbt]], #8\n\t" \
    "add %[u" K "], %[u" K "], %[a" K "]\n\t" \
    "ssat %[u" K "], %[bits], %[u" K "]\n\t" \
    "cmp %[u" K "], %[t]\n\t" \
    "bgt " SPIKE "\n"

/*
 * Two neurons per turn, for layers with synaptic input that reset by subtraction (the common
 * case): one ldrd each for the two sums and the two membranes, one strd for both, one loop test:
 * 19 instructions per pair on the Cortex-M4 (21 on the M3) instead of 24 (26). The spike path
 * forms the index from pv, which still points at the pair.
 */
#define ESNN_ASM_LIF2(LOAD, INPUT0, INPUT1) \
    __asm__ volatile( \
        "1:\n\t" LOAD "ldrd %[u0], %[u1], [%[pv]]\n\t" ESNN_ASM_PAIR_NEURON( \
            "0", "3f", INPUT0) "2:\n\t" ESNN_ASM_PAIR_NEURON("1", "5f", INPUT1) "4:\n\t" \
                                                                                "strd %[u0], %[u1], [%[pv]], #8\n\t" \
                                                                                "cmp %[pv], %[end]\n\t" \
                                                                                "bne 1b\n\t" \
                                                                                "b 6f\n" \
                                                                                "3:\n\t" \
                                                                                "sub %[u0], %[u0], %[t]\n\t" \
                                                                                "sub %[a0], %[pv], %[v0]\n\t" \
                                                                                "lsr %[a0], %[a0], #2\n\t" \
                                                                                "strh %[a0], [%[po]], #2\n\t" \
                                                                                "b 2b\n" \
                                                                                "5:\n\t" \
                                                                                "sub %[u1], %[u1], %[t]\n\t" \
                                                                                "sub %[a1], %[pv], %[v0]\n\t" \
                                                                                "lsr %[a1], %[a1], #2\n\t" \
                                                                                "add %[a1], %[a1], #1\n\t" \
                                                                                "strh %[a1], [%[po]], #2\n\t" \
                                                                                "b 4b\n" \
                                                                                "6:\n\t" \
        : [pa] "+&r"(acc), [pbt] "+&r"(bt), [pv] "+&r"(pv), [po] "+&r"(out), [a0] "=&r"(a0), [a1] "=&r"(a1), \
          [t] "=&r"(t), [u0] "=&r"(u0), [u1] "=&r"(u1)ESNN_ASM_DECAY_REGS \
        : [end] "r"(pair_end), [v0] "r"(v), [c] "r"(c), [sh] "i"(shift), [hs] "i"(16u - shift), [bits] "i"(bits) \
        : "cc", "memory")

#define ESNN_ASM_LOAD_ACC "ldr %[a], [%[pa]], #4\n\t"
#define ESNN_ASM_ADD_ACC "add %[u], %[u], %[a], lsl %[sh]\n\t"
#define ESNN_ASM_SUBTRACT "sub %[u], %[u], %[t]\n\t"
#define ESNN_ASM_TO_VALUE "mov %[u], %[vr]\n\t"

ESNN_ALWAYS_INLINE uint16_t *esnn_update_lif_armv7m(uint32_t n, int32_t *v, const int32_t *acc, const int32_t *bt,
                                                    unsigned shift, int32_t alpha, unsigned bits, int subtract,
                                                    int32_t v_reset, uint16_t *out)
{
    int32_t c = (int32_t)((uint32_t)(alpha - 65536) << 16);
    int32_t *pv = v, *end = v + n;
    int32_t a = 0, b, t, u;
#if !defined(__ARM_FEATURE_DSP)
    uint32_t lo;
#endif
    if (acc != 0 && subtract) {
        int32_t *pair_end = v + (n & ~1u);
        if (pair_end != v) {
            int32_t a0, a1, u0, u1;
            ESNN_ASM_LIF2("ldrd %[a0], %[a1], [%[pa]], #8\n\t", ESNN_ASM_PAIR_INPUT("0"), ESNN_ASM_PAIR_INPUT("1"));
            (void)a0;
            (void)a1;
            (void)u0;
            (void)u1;
        }
        if (pv != end) /* an odd last neuron */
            ESNN_ASM_LIF(ESNN_ASM_LOAD_ACC, ESNN_ASM_ADD_ACC, ESNN_ASM_SUBTRACT);
    } else if (acc != 0) {
        ESNN_ASM_LIF(ESNN_ASM_LOAD_ACC, ESNN_ASM_ADD_ACC, ESNN_ASM_TO_VALUE);
    } else if (subtract) { /* no synaptic input this step: the pair loop without the sums */
        int32_t *pair_end = v + (n & ~1u);
        if (pair_end != v) {
            int32_t a0, a1, u0, u1;
            ESNN_ASM_LIF2("", "", "");
            (void)a0;
            (void)a1;
            (void)u0;
            (void)u1;
        }
        if (pv != end)
            ESNN_ASM_LIF("", "", ESNN_ASM_SUBTRACT);
    } else {
        ESNN_ASM_LIF("", "", ESNN_ASM_TO_VALUE);
    }
    (void)a;
    return out;
}
#define ESNN_HAVE_ARMV7M_UPDATE 1
#endif

#if defined(__GNUC__) && defined(__OPTIMIZE__) && defined(__ARM_ARCH_6M__)
/*
 * The loop on ARMv6-M (Cortex-M0/M0+: Thumb-1, eight low registers, muls 32x32->32 only), for
 * every decay below 2^16. The decay is exact from two muls partial products: v = hi * 2^16 + lo
 * with lo = v & 0xffff, decay = hi * alpha + ((lo * alpha + 2^15) >> 16) (hi * alpha fits int32,
 * lo * alpha + 2^15 fits uint32). All eight low registers are pinned (r6 alpha, r7 the rounding
 * constant 2^15: __OPTIMIZE__ builds keep no frame pointer); the loop end, the first v, the spike
 * list pointer and the state limits live in high registers. Per neuron: ldr v; seven decay
 * instructions; ldm acc, lsls, adds; ldm (bias, threshold), adds; cmp, bgt (threshold); cmp, blt
 * (low saturation); stm v; and the loop test, once per pair: 19.5 (16.5 without synaptic input).
 * Out of line, taken only by a spike or a saturation: the high saturation, the reset, the index.
 */
/* clang-format off */
#define ESNN_M0_DECAY \
    "ldr r3, [r1]\n\t" \
    "asrs r4, r3, #16\n\t" \
    "muls r4, r6\n\t" \
    "uxth r5, r3\n\t" \
    "muls r5, r6\n\t" \
    "adds r5, r5, r7\n\t" \
    "lsrs r5, r5, #16\n\t" \
    "adds r3, r4, r5\n\t"
/* bias and threshold (r4, r5), the bias added, the threshold test, the low saturation test, the
 * store of v. A sum above the state range also exceeds the threshold, so the high saturation is
 * tested only on the spike path (SPIKE); SAT (below the range) and SPIKE are out of line and
 * return to STORED. */
#define ESNN_M0_TAIL(SAT, SPIKE, STORED) \
    "ldmia r0!, {r4, r5}\n\t" \
    "adds r3, r3, r4\n\t" \
    "cmp r3, r5\n\t" \
    "bgt " SPIKE "\n\t" \
    "cmp r3, %[lo]\n\t" \
    "blt " SAT "\n" STORED ":\n\t" \
    "stmia r1!, {r3}\n\t"
#define ESNN_M0_SAT(STORED) \
    "mov r3, %[lo]\n\t" \
    "b " STORED "\n"
/* a spike candidate: saturate at the top (then it spikes only if the top exceeds the
 * threshold), reset (RESET), append the index (pv - v0) / 4 to the list, return */
#define ESNN_M0_SPIKE(TOP, RESET, STORED) \
    "cmp r3, %[hi]\n\t" \
    "ble " TOP "f\n\t" \
    "mov r3, %[hi]\n\t" \
    "cmp r3, r5\n\t" \
    "ble " STORED "\n" TOP ":\n\t" RESET "mov r4, %[v0]\n\t" \
    "subs r4, r1, r4\n\t" \
    "lsrs r4, r4, #2\n\t" \
    "mov r5, %[po]\n\t" \
    "strh r4, [r5]\n\t" \
    "adds r5, #2\n\t" \
    "mov %[po], r5\n\t" \
    "b " STORED "\n"
#define ESNN_M0_SUBTRACT "subs r3, r3, r5\n\t"
/* v_reset from memory: the high registers are all taken */
#define ESNN_M0_TO_VALUE "ldr r3, %[vr]\n\t"
#define ESNN_M0_INPUT \
    "ldmia r2!, {r4}\n\t" \
    "lsls r4, r4, %[sh]\n\t" \
    "adds r3, r3, r4\n\t"
/* GCC hands Thumb-1 inline assembly to the assembler in divided syntax: these loops are unified.
 * The out-of-line paths of a loop (SAT, SPIKE) follow it, after a branch past them. */
#define ESNN_M0_OUT_OF_LINE(SAT, SPIKE, TOP, RESET, STORED) \
    SAT ":\n\t" ESNN_M0_SAT(STORED "b") \
    SPIKE ":\n\t" ESNN_M0_SPIKE(TOP, RESET, STORED "b")
/* one neuron per turn: INPUT is the synaptic-input lines (or none), RESET the reset */
#define ESNN_M0_LOOP(INPUT, RESET) \
    ".syntax unified\n" \
    "1:\n\t" \
    ESNN_M0_DECAY INPUT ESNN_M0_TAIL("5f", "3f", "4") \
    "cmp r1, %[end]\n\t" \
    "bne 1b\n\t" \
    "b 9f\n" \
    ESNN_M0_OUT_OF_LINE("5", "3", "11", RESET, "4") \
    "9:\n\t" \
    ".syntax divided\n"
/* two neurons per turn (one loop test per pair) */
#define ESNN_M0_LOOP2(INPUT, RESET) \
    ".syntax unified\n" \
    "1:\n\t" \
    ESNN_M0_DECAY INPUT ESNN_M0_TAIL("5f", "3f", "4") \
    ESNN_M0_DECAY INPUT ESNN_M0_TAIL("6f", "8f", "10") \
    "cmp r1, %[end]\n\t" \
    "bne 1b\n\t" \
    "b 9f\n" \
    ESNN_M0_OUT_OF_LINE("5", "3", "11", RESET, "4") \
    ESNN_M0_OUT_OF_LINE("6", "8", "12", RESET, "10") \
    "9:\n\t" \
    ".syntax divided\n"
/*
 * Packed sums (two 16-bit lanes per word, as one chunk of accumulate leaves them), two neurons
 * per turn: the word is read for each of the two (ldr and sxth for the lo lane; ldm, sxth, subs
 * and asrs #(16 - shift) for the hi lane, which is still multiplied by 2^16). No unpacking pass.
 */
#define ESNN_M0_PACKED_LOOP(RESET) \
    ".syntax unified\n" \
    "1:\n\t" \
    ESNN_M0_DECAY \
    "ldr r4, [r2]\n\t" \
    "sxth r5, r4\n\t" \
    "lsls r5, r5, %[sh]\n\t" \
    "adds r3, r3, r5\n\t" \
    ESNN_M0_TAIL("5f", "3f", "4") \
    ESNN_M0_DECAY \
    "ldmia r2!, {r4}\n\t" \
    "sxth r5, r4\n\t" \
    "subs r4, r4, r5\n\t" \
    "asrs r4, r4, %[hs]\n\t" \
    "adds r3, r3, r4\n\t" \
    ESNN_M0_TAIL("6f", "8f", "10") \
    "cmp r1, %[end]\n\t" \
    "bne 1b\n\t" \
    "b 9f\n" \
    ESNN_M0_OUT_OF_LINE("5", "3", "11", RESET, "4") \
    ESNN_M0_OUT_OF_LINE("6", "8", "12", RESET, "10") \
    "9:\n\t" \
    ".syntax divided\n"
/* clang-format on */

/* The pinned registers and the high-register operands shared by the loops. */
#define ESNN_M0_REGS(V, ACC) \
    register const int32_t *r0_ __asm__("r0") = bt; \
    register int32_t *r1_ __asm__("r1") = (V); \
    register const void *r2_ __asm__("r2") = (ACC); \
    register int32_t r3_ __asm__("r3"); \
    register int32_t r4_ __asm__("r4"); \
    register int32_t r5_ __asm__("r5"); \
    register int32_t r6_ __asm__("r6") = alpha; \
    register int32_t r7_ __asm__("r7") = 0x8000; \
    int32_t hi_ = (int32_t)(((uint32_t)1 << (bits - 1u)) - 1u), lo_ = -hi_ - 1
#define ESNN_M0_OUTS "+l"(r0_), "+l"(r1_), "+l"(r2_), "=&l"(r3_), "=&l"(r4_), "=&l"(r5_), [po] "+h"(po)
#define ESNN_M0_INS "l"(r6_), "l"(r7_), [end] "h"(end), [v0] "h"(v), [hi] "h"(hi_), [lo] "h"(lo_), [sh] "i"(shift)

/* The loop LOOP (ESNN_M0_LOOP2: pairs, or ESNN_M0_LOOP) over the neurons [V, END), their
 * synaptic sums at ACC (NULL: none this step) and their (bias, threshold) pairs at bt */
#define ESNN_M0_RUN(LOOP, V, END, ACC) \
    do { \
        int32_t *end = (END); \
        ESNN_M0_REGS(V, ACC); \
        if ((ACC) != 0 && subtract) \
            __asm__ volatile(LOOP(ESNN_M0_INPUT, ESNN_M0_SUBTRACT) : ESNN_M0_OUTS:ESNN_M0_INS : "cc", "memory"); \
        else if ((ACC) != 0) \
            __asm__ volatile(LOOP(ESNN_M0_INPUT, ESNN_M0_TO_VALUE) \
                             : ESNN_M0_OUTS \
                             : ESNN_M0_INS, [vr] "m"(v_reset) \
                             : "cc", "memory"); \
        else if (subtract) \
            __asm__ volatile(LOOP("", ESNN_M0_SUBTRACT) : ESNN_M0_OUTS:ESNN_M0_INS : "cc", "memory"); \
        else \
            __asm__ volatile(LOOP("", ESNN_M0_TO_VALUE) \
                             : ESNN_M0_OUTS \
                             : ESNN_M0_INS, [vr] "m"(v_reset) \
                             : "cc", "memory"); \
        (void)r0_; \
        (void)r1_; \
        (void)r2_; \
        (void)r3_; \
        (void)r4_; \
        (void)r5_; \
    } while (0)

ESNN_ALWAYS_INLINE uint16_t *esnn_update_lif_armv6m(uint32_t n, int32_t *v, const int32_t *acc, const int32_t *bt,
                                                    unsigned shift, int32_t alpha, unsigned bits, int subtract,
                                                    int32_t v_reset, uint16_t *out)
{
    uint16_t *po = out;
    uint32_t last = n - 1u;
    if (n >= 2u)
        ESNN_M0_RUN(ESNN_M0_LOOP2, v, v + (n & ~1u), acc);
    if (n & 1u) { /* the odd last neuron, one turn of the single loop */
        bt += 2u * last;
        ESNN_M0_RUN(ESNN_M0_LOOP, v + last, v + n, acc != 0 ? acc + last : 0);
    }
    return po;
}

/* The packed pair loop over n & ~1 neurons (shift < 16); returns the end of the spike list. */
ESNN_ALWAYS_INLINE uint16_t *esnn_update_packed_armv6m(uint32_t n, int32_t *v, const uint32_t *part, const int32_t *bt,
                                                       unsigned shift, int32_t alpha, unsigned bits, int subtract,
                                                       int32_t v_reset, uint16_t *out)
{
    int32_t *end = v + (n & ~1u);
    uint16_t *po = out;
    ESNN_M0_REGS(v, part);
    if (subtract)
        __asm__ volatile(ESNN_M0_PACKED_LOOP(ESNN_M0_SUBTRACT)
                         : ESNN_M0_OUTS
                         : ESNN_M0_INS, [hs] "i"(16u - shift)
                         : "cc", "memory");
    else
        __asm__ volatile(ESNN_M0_PACKED_LOOP(ESNN_M0_TO_VALUE)
                         : ESNN_M0_OUTS
                         : ESNN_M0_INS, [hs] "i"(16u - shift), [vr] "m"(v_reset)
                         : "cc", "memory");
    (void)r0_;
    (void)r1_;
    (void)r2_;
    (void)r3_;
    (void)r4_;
    (void)r5_;
    return po;
}
#define ESNN_HAVE_ARMV6M_UPDATE 1
#endif

#if defined(__GNUC__) && defined(__OPTIMIZE__) && defined(__riscv) && defined(__riscv_mul) && __riscv_xlen == 32
/*
 * The loop on RV32 with M (the FE310, the ESP32-C3), for every decay below 2^16, two neurons per
 * turn. The decay is exact from one mulhsu and one mul: with A = alpha * 2^16 as an unsigned word,
 * v * A = v * alpha * 2^16 (64 bits, signed by unsigned), and floor((v * alpha + 2^15) / 2^16) is
 * its high word plus bit 31 of its low word (the rounding carry). Per pair: two lw of v, eight
 * decay instructions, the synaptic input (lw, slli, add each; packed: one lw, then slli, srai,
 * sub, srai, srai, add, add), per neuron lw bias, lw threshold, add, blt (threshold), blt (low
 * saturation); two sw and the pointer steps and loop test. A sum above the state range also
 * exceeds the threshold (threshold <= the top), so the high saturation is tested only on the
 * spike path, out of line, which then spikes only if the top exceeds the threshold; the low
 * saturation is out of line too. GCC, left to the C loop below, formed each neuron's spike index
 * and list pointer ahead of the test (five instructions a neuron, used only by a spike).
 */
/* clang-format off */
#define ESNN_RV_DECAY2 \
    "lw %[u0], 0(%[pv])\n\t" \
    "lw %[u1], 4(%[pv])\n\t" \
    "mulhsu %[h0], %[u0], %[A]\n\t" \
    "mul %[l0], %[u0], %[A]\n\t" \
    "mulhsu %[h1], %[u1], %[A]\n\t" \
    "mul %[l1], %[u1], %[A]\n\t" \
    "srli %[l0], %[l0], 31\n\t" \
    "srli %[l1], %[l1], 31\n\t" \
    "add %[u0], %[h0], %[l0]\n\t" \
    "add %[u1], %[h1], %[l1]\n\t"
/* the synaptic input of the pair: int32 sums (then pa steps by 8) or one packed word (by 4) */
#define ESNN_RV_IN_ACC \
    "lw %[h0], 0(%[pa])\n\t" \
    "lw %[h1], 4(%[pa])\n\t" \
    "slli %[h0], %[h0], %[sh]\n\t" \
    "slli %[h1], %[h1], %[sh]\n\t" \
    "add %[u0], %[u0], %[h0]\n\t" \
    "add %[u1], %[u1], %[h1]\n\t"
#define ESNN_RV_STEP_ACC "addi %[pa], %[pa], 8\n\t"
/* lo lane: (word << 16) >> (16 - shift) = lo * 2^shift; hi lane: word - lo = hi * 2^16 */
#define ESNN_RV_IN_PACKED \
    "lw %[h1], 0(%[pa])\n\t" \
    "slli %[h0], %[h1], 16\n\t" \
    "srai %[l0], %[h0], 16\n\t" \
    "sub %[h1], %[h1], %[l0]\n\t" \
    "srai %[h0], %[h0], %[hs]\n\t" \
    "srai %[h1], %[h1], %[hs]\n\t" \
    "add %[u0], %[u0], %[h0]\n\t" \
    "add %[u1], %[u1], %[h1]\n\t"
#define ESNN_RV_STEP_PACKED "addi %[pa], %[pa], 4\n\t"
/* neuron U: its bias added, the threshold test (SPIKE), the low saturation test (LOW) */
#define ESNN_RV_TEST(U, OFF_B, OFF_T, SPIKE, LOW) \
    "lw %[b], " OFF_B "(%[pbt])\n\t" \
    "lw %[t], " OFF_T "(%[pbt])\n\t" \
    "add " U ", " U ", %[b]\n\t" \
    "blt %[t], " U ", " SPIKE "\n\t" \
    "blt " U ", %[lo], " LOW "\n"
/* a spike candidate: the top saturation (then no spike unless the top exceeds the threshold),
 * the reset, the index (pv - v0) / 4 (+ 1 for the pair's second) appended; back to BACK */
#define ESNN_RV_SPIKE(U, RESET, PLUS, BACK) \
    "bge %[hi], " U ", 10f\n\t" \
    "mv " U ", %[hi]\n\t" \
    "bge %[t], " U ", " BACK "\n" \
    "10:\n\t" RESET(U) \
    "sub %[b], %[pv], %[v0]\n\t" \
    "srli %[b], %[b], 2\n\t" PLUS \
    "sh %[b], 0(%[po])\n\t" \
    "addi %[po], %[po], 2\n\t" \
    "j " BACK "\n"
#define ESNN_RV_SUBTRACT(U) "sub " U ", " U ", %[t]\n\t"
#define ESNN_RV_TO_VALUE(U) "mv " U ", %[vr]\n\t"
#define ESNN_RV_LOOP2(INPUT, STEP, RESET) \
    "1:\n\t" ESNN_RV_DECAY2 INPUT \
    ESNN_RV_TEST("%[u0]", "0", "4", "3f", "5f") \
    "2:\n\t" \
    ESNN_RV_TEST("%[u1]", "8", "12", "6f", "8f") \
    "7:\n\t" \
    "sw %[u0], 0(%[pv])\n\t" \
    "sw %[u1], 4(%[pv])\n\t" \
    "addi %[pv], %[pv], 8\n\t" STEP \
    "addi %[pbt], %[pbt], 16\n\t" \
    "bne %[pv], %[end], 1b\n\t" \
    "j 9f\n" \
    "3:\n\t" ESNN_RV_SPIKE("%[u0]", RESET, "", "2b") \
    "5:\n\t" \
    "mv %[u0], %[lo]\n\t" \
    "j 2b\n" \
    "6:\n\t" ESNN_RV_SPIKE("%[u1]", RESET, "addi %[b], %[b], 1\n\t", "7b") \
    "8:\n\t" \
    "mv %[u1], %[lo]\n\t" \
    "j 7b\n" \
    "9:\n"
/* clang-format on */
#define ESNN_RV_RUN(INPUT, STEP, RESET) \
    __asm__ volatile( \
        ESNN_RV_LOOP2(INPUT, STEP, RESET) \
        : [pv] "+&r"(pv), [pa] "+&r"(pa), [pbt] "+&r"(pbt), [po] "+&r"(po), [u0] "=&r"(u0), [u1] "=&r"(u1), \
          [h0] "=&r"(h0), [h1] "=&r"(h1), [l0] "=&r"(l0), [l1] "=&r"(l1), [b] "=&r"(b), [t] "=&r"(t) \
        : [end] "r"(end), [v0] "r"(v), [A] "r"(a_q32), [lo] "r"(lo_), [hi] "r"(hi_), [vr] "r"(v_reset), \
          [sh] "i"(shift), [hs] "i"(16u - shift) \
        : "memory")

/* The pair loop over the first n & ~1 neurons; input: 0 none, 1 int32 sums, 2 packed words
 * (shift < 16). Returns the end of the spike list; the caller runs an odd last neuron. */
ESNN_ALWAYS_INLINE uint16_t *esnn_update_pairs_rv32(uint32_t n, int32_t *v, const void *in, int input,
                                                    const int32_t *bt, unsigned shift, int32_t alpha, unsigned bits,
                                                    int subtract, int32_t v_reset, uint16_t *out)
{
    int32_t *pv = v, *end = v + (n & ~1u);
    const void *pa = in;
    const int32_t *pbt = bt;
    uint16_t *po = out;
    uint32_t a_q32 = (uint32_t)alpha << 16;
    int32_t hi_ = (int32_t)(((uint32_t)1 << (bits - 1u)) - 1u), lo_ = -hi_ - 1;
    int32_t u0, u1, h0, h1, l0, l1, b, t;
    if (pv == end)
        return out;
    if (input == 1 && subtract)
        ESNN_RV_RUN(ESNN_RV_IN_ACC, ESNN_RV_STEP_ACC, ESNN_RV_SUBTRACT);
    else if (input == 1)
        ESNN_RV_RUN(ESNN_RV_IN_ACC, ESNN_RV_STEP_ACC, ESNN_RV_TO_VALUE);
    else if (input == 2 && subtract)
        ESNN_RV_RUN(ESNN_RV_IN_PACKED, ESNN_RV_STEP_PACKED, ESNN_RV_SUBTRACT);
    else if (input == 2)
        ESNN_RV_RUN(ESNN_RV_IN_PACKED, ESNN_RV_STEP_PACKED, ESNN_RV_TO_VALUE);
    else if (subtract)
        ESNN_RV_RUN("", "", ESNN_RV_SUBTRACT);
    else
        ESNN_RV_RUN("", "", ESNN_RV_TO_VALUE);
    (void)u0;
    (void)u1;
    (void)h0;
    (void)h1;
    (void)l0;
    (void)l1;
    (void)b;
    (void)t;
    (void)pa;
    return po;
}
#define ESNN_HAVE_RV32_UPDATE 1
#endif

/*
 * One timestep of a layer's neurons: u = saturate(decay(v) + acc * 2^shift + bias); spike if
 * u > threshold, then reset (subtract the threshold, or set v_reset); store u. `bt` holds each
 * neuron's (bias, threshold) pair, adjacent so that one load fetches both. `acc` NULL means no
 * synaptic input this step (every acc is 0). `alpha` == 65536: no leak. Returns the number of
 * spikes written to `out`. The neuron index is only formed when a neuron spikes.
 */
ESNN_ALWAYS_INLINE uint16_t esnn_update_lif(uint32_t n, int32_t *v, const int32_t *acc, const int32_t *bt,
                                            unsigned shift, int32_t alpha, unsigned bits, int has_bias, int subtract,
                                            int32_t v_reset, uint16_t *out)
{
    uint16_t n_spikes = 0;
    int32_t *pv = v, *end = v + n;
    const int32_t *pbt = bt;
#if defined(ESNN_HAVE_ARMV7M_UPDATE)
    if (alpha > 32768 && alpha < 65536 && bits <= 30u && n > 0u)
        return (uint16_t)(esnn_update_lif_armv7m(n, v, acc, bt, shift, alpha, bits, subtract, v_reset, out) - out);
#endif
#if defined(ESNN_HAVE_ARMV6M_UPDATE)
    if (alpha < 65536 && bits <= 30u && n > 0u)
        return (uint16_t)(esnn_update_lif_armv6m(n, v, acc, bt, shift, alpha, bits, subtract, v_reset, out) - out);
#endif
#if defined(ESNN_HAVE_RV32_UPDATE)
    if (alpha < 65536 && bits <= 30u && n >= 2u) { /* pairs here, an odd last neuron below */
        uint32_t pairs = n & ~1u;
        n_spikes = (uint16_t)(esnn_update_pairs_rv32(n, v, acc, acc != 0 ? 1 : 0, bt, shift, alpha, bits, subtract,
                                                     v_reset, out) -
                              out);
        pv += pairs;
        pbt += 2u * pairs;
        if (acc != 0)
            acc += pairs;
    }
#endif
    if (acc != 0) {
        const int32_t *pa = acc;
        while (pv < end)
            ESNN_LIF_NEURON(*pa++ * ((int32_t)1 << shift));
    } else {
        while (pv < end)
            ESNN_LIF_NEURON(0);
    }
    return n_spikes;
}

/*
 * esnn_update_lif on synaptic sums still packed two per word (lane lo: neuron 2k, lane hi:
 * neuron 2k + 1), as one chunk of accumulate leaves them: no unpacking pass. On ARMv7-M, for
 * reset by subtraction, decays above one half and shift < 16, the two-neuron loop of
 * esnn_update_lif (one ldrd and one strd for both membranes) with the pair's sums split from one
 * word: 10.5 instructions per neuron on the M4, 11.5 on the M3. An odd last neuron, and every
 * other case, go through the C loop.
 */
ESNN_ALWAYS_INLINE uint16_t esnn_update_lif_packed(uint32_t n, int32_t *v, const uint32_t *part, const int32_t *bt,
                                                   unsigned shift, int32_t alpha, unsigned bits, int has_bias,
                                                   int subtract, int32_t v_reset, uint16_t *out)
{
    uint16_t n_spikes = 0;
    int32_t *pv = v, *end = v + n;
    const int32_t *pbt = bt;
    const uint32_t *pp = part;
#if defined(ESNN_HAVE_ARMV7M_UPDATE)
    if (subtract && alpha > 32768 && alpha < 65536 && bits <= 30u && shift < 16u && n >= 2u) {
        /* the two-neuron loop of esnn_update_lif_armv7m, its sums loaded from one packed word */
        int32_t c = (int32_t)((uint32_t)(alpha - 65536) << 16);
        int32_t *pair_end = v + (n & ~1u);
        const uint32_t *acc = pp;
        uint16_t *out0 = out;
        int32_t a0, a1, t, u0, u1;
#if !defined(__ARM_FEATURE_DSP)
        uint32_t lo;
#endif
        /* ldr, sxth and sub split the word; the hi lane stays multiplied by 2^16, and
         * `asr #(16 - shift)` scales it exactly, its low 16 bits being zero */
        ESNN_ASM_LIF2("ldr %[a1], [%[pa]], #4\n\t"
                      "sxth %[a0], %[a1]\n\t"
                      "sub %[a1], %[a1], %[a0]\n\t",
                      ESNN_ASM_PAIR_INPUT("0"), "add %[u1], %[u1], %[a1], asr %[hs]\n\t");
        (void)a0;
        (void)a1;
        (void)u0;
        (void)u1;
        pp = acc;
        pbt = bt;
        n_spikes = (uint16_t)(out - out0);
        out = out0; /* the C loop below appends at out[n_spikes] */
    }
#endif
#if defined(ESNN_HAVE_ARMV6M_UPDATE)
    if (alpha < 65536 && bits <= 30u && shift < 16u && n >= 2u) {
        uint32_t pairs = n & ~1u;
        n_spikes =
            (uint16_t)(esnn_update_packed_armv6m(n, v, part, bt, shift, alpha, bits, subtract, v_reset, out) - out);
        pv += pairs;
        pbt += 2u * pairs;
        pp += pairs / 2u;
    }
#endif
#if defined(ESNN_HAVE_RV32_UPDATE)
    if (alpha < 65536 && bits <= 30u && shift < 16u && n >= 2u) {
        uint32_t pairs = n & ~1u;
        n_spikes =
            (uint16_t)(esnn_update_pairs_rv32(n, v, part, 2, bt, shift, alpha, bits, subtract, v_reset, out) - out);
        pv += pairs;
        pbt += 2u * pairs;
        pp += pairs / 2u;
    }
#endif
    while (pv < end) {
        uint32_t word = *pp++;
        int32_t lanes[2];
        unsigned k;
        ESNN_LANES(word, lanes[0], lanes[1]);
        for (k = 0; k < 2u && pv < end; ++k)
            ESNN_LIF_NEURON(lanes[k] * ((int32_t)1 << shift));
    }
    return n_spikes;
}

/*
 * The update of a timestep without synaptic input for the neurons in `awake` (n_awake of them,
 * or all n when n_awake is ESNN_AWAKE_TRACK or ALL): u = saturate(decay(v) + bias); spike if u > threshold,
 * then reset; store u. Keeps in `awake` (in order, in place: it writes at or before where it
 * reads) the neurons that spiked or whose v changed, and returns how many. `per` is the number
 * of output channels of a convolutional layer (parameters per channel: neuron j has channel
 * j % per), or 0 for a dense layer (parameters per neuron).
 */
ESNN_ALWAYS_INLINE uint16_t esnn_idle_lif(uint32_t n, uint32_t per, int32_t *v, uint16_t *awake, uint16_t n_awake,
                                          const int32_t *bt, int32_t alpha, unsigned bits, int has_bias, int subtract,
                                          int32_t v_reset, uint16_t *out, uint16_t *n_spikes)
{
    uint32_t kept = 0, ns = *n_spikes; /* 32-bit counters: no narrowing in the loop */
/* One neuron j: the update without input; `awake[kept]` is written always and kept only when
 * the neuron spiked or changed (no branch on the common outcomes). */
#define ESNN_IDLE_NEURON(J, PBT) \
    do { \
        int32_t v0_ = v[J]; \
        int32_t u_ = \
            esnn_saturate_bits((alpha == 65536 ? v0_ : esnn_decay_q16(v0_, alpha)) + (has_bias ? (PBT)[0] : 0), bits); \
        uint32_t keep_ = (uint32_t)(u_ != v0_); \
        if (u_ > (PBT)[1]) { \
            out[ns++] = (uint16_t)(J); \
            u_ = subtract ? u_ - (PBT)[1] : v_reset; \
            keep_ = 1u; \
        } \
        awake[kept] = (uint16_t)(J); \
        kept += keep_; \
        v[J] = u_; \
    } while (0)
    if (n_awake >= ESNN_AWAKE_TRACK) { /* every neuron, in order: the parameters follow along */
        uint32_t j;
        const int32_t *pbt = bt;
        for (j = 0; j < n; ++j) {
            if (per)
                pbt = bt + 2u * (j % per);
            ESNN_IDLE_NEURON(j, pbt);
            if (!per)
                pbt += 2;
        }
    } else {
        uint16_t k;
        for (k = 0; k < n_awake; ++k) { /* in place: awake[kept] with kept <= k */
            uint32_t j = awake[k];
            const int32_t *pbt = bt + 2u * (per ? j % per : j);
            ESNN_IDLE_NEURON(j, pbt);
        }
    }
#undef ESNN_IDLE_NEURON
    *n_spikes = (uint16_t)ns;
    return (uint16_t)kept;
}

#endif /* ESNN_UPDATE_H */
