/*
 * edgesnn C runtime, internal: what esnn.c (fully connected layers) and esnn_conv.c
 * (convolutions, pooling) share. Not part of the API in esnn.h.
 */
#ifndef ESNN_INTERNAL_H
#define ESNN_INTERNAL_H

#include "esnn.h"

/* Steps 2-6 for one neuron without a generated update (esnn.c). */
void esnn_neuron_generic(const esnn_model_t *m, const esnn_layer_t *L, uint32_t p, int32_t a, int32_t *v, int32_t *cur,
                         uint16_t j, uint16_t *out, uint16_t *n_spikes);
/* A layer's input spikes through its pooling, into `out`; returns how many (esnn_conv.c). */
uint16_t esnn_pool_events(const void *pool, const uint16_t *in, uint16_t n, uint16_t *out, uint8_t *seen);
/* One timestep of a convolutional layer; returns its spike count (esnn_conv.c). */
uint16_t esnn_step_conv(const esnn_model_t *m, esnn_state_t *s, const esnn_layer_t *L, const uint16_t *in,
                        uint16_t n_in);

#if !defined(ESNN_CHAIN_ONLY)
/* The events a graph's connection reads now (esnn_edge_t): the input's, or its source's spike
 * list, pooled into s->events when the connection pools (which overwrites a layer's own pooled
 * events: callers take them after the layer's own rows are summed, or before it maps them). */
static inline const uint16_t *esnn_edge_events(const esnn_model_t *m, const esnn_state_t *s, const esnn_edge_t *E,
                                               uint16_t *n)
{
    const uint16_t *ev;
    if (E->source < 0) {
        *n = s->n_input;
        ev = s->input;
    } else {
        *n = s->n_spikes[E->source];
        ev = s->spikes + m->layers[E->source].offset;
    }
    if (E->pool != 0 && *n > 0u) {
        *n = E->pool->map(E->pool, ev, *n, s->events, s->seen);
        return s->events;
    }
    return ev;
}
#endif

/* Whether layer L has its generated update (f: L->update, L->idle...). A build whose every layer
 * has one (edgesnn's build checks it and passes -DESNN_ALL_GENERATED; the model's esnn_model.c
 * refuses the flag otherwise) makes the test a constant, so the generic update is dead code
 * that the compiler and the linker's section collection drop (980 B on the M3 digits build). */
#if defined(ESNN_ALL_GENERATED)
#define ESNN_GENERATED(f) 1
#else
#define ESNN_GENERATED(f) ((f) != 0)
#endif

/* o[0..3] += r[0..3]: the portable four-word add of the row kernels (esnn_conv.c's taps too) */
#define ESNN_ADD_4_WORDS(o, r) \
    do { \
        (o)[0] += (r)[0]; \
        (o)[1] += (r)[1]; \
        (o)[2] += (r)[2]; \
        (o)[3] += (r)[3]; \
    } while (0)

/* acc[2k], acc[2k + 1] = (or +=, unless `assign`) the two lanes of part[k], k < words: the
 * packed sums of one chunk of events into the int32 sums. Both lanes are read before either
 * store: acc and part may alias as far as C knows. */
static inline void esnn_unpack(int32_t *acc, const uint32_t *part, uint32_t words, int assign)
{
    uint32_t k;
    if (assign) { /* the test outside the loops: -O2 does not unswitch them */
        for (k = 0; k < words; ++k) {
            uint32_t word = part[k];
            int32_t lo, hi;
            ESNN_LANES(word, lo, hi);
            acc[2u * k] = lo;
            acc[2u * k + 1u] = hi;
        }
    } else {
        for (k = 0; k < words; ++k) {
            uint32_t word = part[k];
            int32_t lo, hi;
            ESNN_LANES(word, lo, hi);
            acc[2u * k] += lo;
            acc[2u * k + 1u] += hi;
        }
    }
}

/*
 * ARMv6-M (Cortex-M0/M0+): the same row adds with Thumb-1's ldm/stm of low registers, two words
 * of the sums and two of each row per half turn (a turn is 4 words, the row padding). The sums
 * are loaded with ldm (writeback: the pointer steps back by 8 before the stm) and the rows
 * stream through ldm. Three rows: 12 instructions per half turn of 2 words x 3 rows (12 synaptic
 * events), 1.08 per event with the loop test. All eight low registers are pinned (r7 too:
 * __OPTIMIZE__ builds keep no frame pointer); the end of the sums is in a high register.
 */
#if defined(__GNUC__) && defined(__OPTIMIZE__) && defined(__ARM_ARCH_6M__)
#define ESNN_M0_ROWS(HALF) \
    ".syntax unified\n" \
    "1:\n\t" HALF HALF "cmp r0, %[end]\n\t" \
    "bne 1b\n\t" \
    ".syntax divided\n"
#define ESNN_M0_SUMS_IN \
    "ldmia r0!, {r4, r5}\n\t" \
    "subs r0, #8\n\t"
#define ESNN_M0_ADD2(ROW) \
    "ldmia " ROW "!, {r6, r7}\n\t" \
    "adds r4, r4, r6\n\t" \
    "adds r5, r5, r7\n\t"
#define ESNN_M0_SUMS_OUT "stmia r0!, {r4, r5}\n\t"
#define ESNN_M0_ROW_REGS(PART, WORDS) \
    register uint32_t *r0_ __asm__("r0") = (PART); \
    uint32_t *end_ = (PART) + (WORDS)
static inline void add_row(uint32_t *part, const uint32_t *row, uint16_t words)
{
    ESNN_M0_ROW_REGS(part, words);
    register const uint32_t *r1_ __asm__("r1") = row;
    __asm__ volatile(ESNN_M0_ROWS(ESNN_M0_SUMS_IN ESNN_M0_ADD2("r1") ESNN_M0_SUMS_OUT)
                     : "+l"(r0_), "+l"(r1_)
                     : [end] "h"(end_)
                     : "r4", "r5", "r6", "r7", "cc", "memory");
}
static inline void add_rows2(uint32_t *part, const uint32_t *a, const uint32_t *b, uint16_t words)
{
    ESNN_M0_ROW_REGS(part, words);
    register const uint32_t *r1_ __asm__("r1") = a;
    register const uint32_t *r2_ __asm__("r2") = b;
    __asm__ volatile(ESNN_M0_ROWS(ESNN_M0_SUMS_IN ESNN_M0_ADD2("r1") ESNN_M0_ADD2("r2") ESNN_M0_SUMS_OUT)
                     : "+l"(r0_), "+l"(r1_), "+l"(r2_)
                     : [end] "h"(end_)
                     : "r4", "r5", "r6", "r7", "cc", "memory");
}
static inline void add_rows3(uint32_t *part, const uint32_t *a, const uint32_t *b, const uint32_t *c, uint16_t words)
{
    ESNN_M0_ROW_REGS(part, words);
    register const uint32_t *r1_ __asm__("r1") = a;
    register const uint32_t *r2_ __asm__("r2") = b;
    register const uint32_t *r3_ __asm__("r3") = c;
    __asm__ volatile(
        ESNN_M0_ROWS(ESNN_M0_SUMS_IN ESNN_M0_ADD2("r1") ESNN_M0_ADD2("r2") ESNN_M0_ADD2("r3") ESNN_M0_SUMS_OUT)
        : "+l"(r0_), "+l"(r1_), "+l"(r2_), "+l"(r3_)
        : [end] "h"(end_)
        : "r4", "r5", "r6", "r7", "cc", "memory");
}
/* part = one row: 4 words per ldm/stm pair */
static inline void copy_row(uint32_t *part, const uint32_t *row, uint16_t words)
{
    ESNN_M0_ROW_REGS(part, words);
    register const uint32_t *r1_ __asm__("r1") = row;
    __asm__ volatile(".syntax unified\n"
                     "1:\n\t"
                     "ldmia r1!, {r4, r5, r6, r7}\n\t"
                     "stmia r0!, {r4, r5, r6, r7}\n\t"
                     "cmp r0, %[end]\n\t"
                     "bne 1b\n\t"
                     ".syntax divided\n"
                     : "+l"(r0_), "+l"(r1_)
                     : [end] "h"(end_)
                     : "r4", "r5", "r6", "r7", "cc", "memory");
}
#undef ESNN_M0_ROW_REGS
#undef ESNN_M0_SUMS_OUT
#undef ESNN_M0_ADD2
#undef ESNN_M0_SUMS_IN
#undef ESNN_M0_ROWS
#define ESNN_HAVE_ARMV6M_ROWS 1
#endif

/*
 * The hot loop: add one packed weight row to the partial sums, 4 words (8 synapses) per turn.
 * On ARMv7-M (Cortex-M3/M4/M7) block loads and stores make that 9 instructions per 8 synapses;
 * elsewhere the portable C below.
 */
#if defined(__GNUC__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__))
static inline void add_row(uint32_t *part, const uint32_t *row, uint16_t words)
{
    uint32_t n = (uint32_t)words >> 2; /* >= 1: rows are padded to a multiple of 4 words */
    __asm__ volatile("1:\n\t"
                     "ldmia %[row]!, {r4, r5, r6, r8}\n\t"
                     "ldmia %[part], {r9, r10, r11, r12}\n\t"
                     "add r9, r9, r4\n\t"
                     "add r10, r10, r5\n\t"
                     "add r11, r11, r6\n\t"
                     "add r12, r12, r8\n\t"
                     "stmia %[part]!, {r9, r10, r11, r12}\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [part] "+r"(part), [row] "+r"(row), [n] "+r"(n)
                     :
                     : "r4", "r5", "r6", "r8", "r9", "r10", "r11", "r12", "cc", "memory");
}
#elif !defined(ESNN_HAVE_ARMV6M_ROWS)
/* 8 words a turn (4 first when words is an odd multiple of 4), the end as a pointer: on RV32 35
 * instructions per 16 synapses */
static inline void add_row(uint32_t *part, const uint32_t *row, uint16_t words)
{
    uint32_t *end = part + words;
    if (words & 4u) {
        ESNN_ADD_4_WORDS(part, row);
        part += 4;
        row += 4;
    }
    while (part != end) {
        ESNN_ADD_4_WORDS(part, row);
        ESNN_ADD_4_WORDS(part + 4, row + 4);
        part += 8;
        row += 8;
    }
}
#endif

/*
 * Two and three rows in one pass over the partial sums: each turn loads and stores the sums
 * once for all of them, which is where one row at a time spends half its instructions. The
 * words are added modulo 2^32 whatever the order, so the sums are those of add_row, bit for bit.
 * ARMv7-M: 14 instructions per 4 words for two rows, 19 for three (27 one at a time). The
 * three-row turn needs five pointer registers beside its eight data registers; the fourth sum
 * lives in lr, so that r7 (Thumb's frame pointer in unoptimised builds) stays free.
 */
#if defined(__GNUC__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__))
/* one row's 4 words into the sums r9, r10, r11, lr */
#define ESNN_ADD4(row) \
    "ldmia " row "!, {r4, r5, r6, r8}\n\t" \
    "add r9, r9, r4\n\t" \
    "add r10, r10, r5\n\t" \
    "add r11, r11, r6\n\t" \
    "add lr, lr, r8\n\t"
/* a turn: load 4 sums, add the rows' words (ADDS), store the sums, count down */
#define ESNN_ROWS_TURN(ADDS) \
    "1:\n\t" \
    "ldmia %[part], {r9, r10, r11, lr}\n\t" ADDS "stmia %[part]!, {r9, r10, r11, lr}\n\t" \
    "subs %[n], %[n], #1\n\t" \
    "bne 1b\n\t"
static inline void add_rows2(uint32_t *part, const uint32_t *a, const uint32_t *b, uint16_t words)
{
    uint32_t n = (uint32_t)words >> 2;
    __asm__ volatile(ESNN_ROWS_TURN(ESNN_ADD4("%[a]") ESNN_ADD4("%[b]"))
                     : [part] "+r"(part), [a] "+r"(a), [b] "+r"(b), [n] "+r"(n)
                     :
                     : "r4", "r5", "r6", "r8", "r9", "r10", "r11", "lr", "cc", "memory");
}
static inline void add_rows3(uint32_t *part, const uint32_t *a, const uint32_t *b, const uint32_t *c, uint16_t words)
{
    uint32_t n = (uint32_t)words >> 2;
    __asm__ volatile(ESNN_ROWS_TURN(ESNN_ADD4("%[a]") ESNN_ADD4("%[b]") ESNN_ADD4("%[c]"))
                     : [part] "+r"(part), [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [n] "+r"(n)
                     :
                     : "r4", "r5", "r6", "r8", "r9", "r10", "r11", "lr", "cc", "memory");
}
#undef ESNN_ROWS_TURN
#undef ESNN_ADD4
#elif !defined(ESNN_HAVE_ARMV6M_ROWS)
/* 4 words a turn, as add_row: rows are padded to a multiple of 4 words */
static inline void add_rows2(uint32_t *part, const uint32_t *a, const uint32_t *b, uint16_t words)
{
    uint16_t n = (uint16_t)(words >> 2);
    while (n--) {
        part[0] += a[0] + b[0];
        part[1] += a[1] + b[1];
        part[2] += a[2] + b[2];
        part[3] += a[3] + b[3];
        part += 4;
        a += 4;
        b += 4;
    }
}
static inline void add_rows3(uint32_t *part, const uint32_t *a, const uint32_t *b, const uint32_t *c, uint16_t words)
{
    uint16_t n = (uint16_t)(words >> 2);
    while (n--) {
        part[0] += a[0] + b[0] + c[0];
        part[1] += a[1] + b[1] + c[1];
        part[2] += a[2] + b[2] + c[2];
        part[3] += a[3] + b[3] + c[3];
        part += 4;
        a += 4;
        b += 4;
        c += 4;
    }
}
#endif

/* part = one row (the first event of a chunk: no clearing of part needed) */
#if defined(__GNUC__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__))
static inline void copy_row(uint32_t *part, const uint32_t *row, uint16_t words)
{
    uint32_t n = (uint32_t)words >> 2;
    __asm__ volatile("1:\n\t"
                     "ldmia %[row]!, {r4, r5, r6, r8}\n\t"
                     "stmia %[part]!, {r4, r5, r6, r8}\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [part] "+r"(part), [row] "+r"(row), [n] "+r"(n)
                     :
                     : "r4", "r5", "r6", "r8", "cc", "memory");
}
#elif !defined(ESNN_HAVE_ARMV6M_ROWS)
static inline void copy_row(uint32_t *part, const uint32_t *row, uint16_t words)
{
    uint16_t k;
    for (k = 0; k < words; ++k)
        part[k] = row[k];
}
#endif

#endif /* ESNN_INTERNAL_H */
