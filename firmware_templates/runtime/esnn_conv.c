/* edgesnn C runtime: convolutions and pooling, event-driven (docs/fixed-point.md, "Convolution
 * and pooling"; "How the firmware computes it"). */
#include "esnn.h"
#include "esnn_internal.h"

/* (channel, row, column) of a map index: (y * w + x) * c + ch when hwc, else (ch * h + y) * w + x. */
static inline void decode(uint32_t idx, uint8_t hwc, uint32_t c, uint32_t h, uint32_t w, uint32_t *ch, uint32_t *y,
                          uint32_t *x)
{
    if (hwc) {
        *ch = idx % c;
        idx /= c;
        *x = idx % w;
        *y = idx / w;
    } else {
        *x = idx % w;
        idx /= w;
        *y = idx % h;
        *ch = idx / h;
    }
}

/*
 * Cores without a divide instruction (ARMv6-M: each / or % is a libgcc call of tens of
 * instructions, two of them per event): events come in rising index order (a layer's spikes are
 * listed that way), so each decode steps on from the previous one a run at a time (a run: a row
 * of the map, or one position's channels), at most the map's runs in a whole timestep. An index
 * below the previous one is decoded by division. Host builds with ESNN_DECODE_BY_STEPS run this
 * path too (the sanitizer tests), where the result must be the same.
 */
#if defined(__ARM_ARCH_6M__) || defined(ESNN_DECODE_BY_STEPS)
typedef struct {
    uint32_t start; /* the index of the run's first element */
    uint32_t mid, outer; /* the run: (outer * mid_n + mid) * inner_n */
} esnn_cursor_t;
#define ESNN_CURSOR_INIT \
    { \
        0u, 0u, 0u \
    }
static inline void decode_next(esnn_cursor_t *cur, uint32_t idx, uint8_t hwc, uint32_t c, uint32_t h, uint32_t w,
                               uint32_t *ch, uint32_t *y, uint32_t *x)
{
    uint32_t inner_n = hwc ? c : w, mid_n = hwc ? w : h, start = cur->start, mid = cur->mid, outer = cur->outer;
    if (idx < start) {
        decode(idx, hwc, c, h, w, ch, y, x);
        outer = hwc ? *y : *ch;
        mid = hwc ? *x : *y;
        start = idx - (hwc ? *ch : *x);
    } else {
        while (idx - start >= inner_n) {
            start += inner_n;
            if (++mid == mid_n) {
                mid = 0u;
                ++outer;
            }
        }
        *ch = hwc ? idx - start : outer;
        *y = hwc ? outer : mid;
        *x = hwc ? mid : idx - start;
    }
    cur->start = start;
    cur->mid = mid;
    cur->outer = outer;
}
#else
typedef uint8_t esnn_cursor_t; /* unused: division is an instruction here */
#define ESNN_CURSOR_INIT 0u
static inline void decode_next(esnn_cursor_t *cur, uint32_t idx, uint8_t hwc, uint32_t c, uint32_t h, uint32_t w,
                               uint32_t *ch, uint32_t *y, uint32_t *x)
{
    (void)cur;
    decode(idx, hwc, c, h, w, ch, y, x);
}
#endif

/* Map a layer's input spikes through its pooling into `out` (pooled indices, (y * w + x) * c + ch);
 * returns how many. Sum pooling keeps one event per spike, max pooling one per window. */
uint16_t esnn_pool_events(const void *pool, const uint16_t *in, uint16_t n, uint16_t *out, uint8_t *seen)
{
    const esnn_pool_t *P = (const esnn_pool_t *)pool;
    uint16_t k, n_out = 0;
    esnn_cursor_t cur = ESNN_CURSOR_INIT;
    for (k = 0; k < n; ++k) {
        uint32_t ch, y, x, o;
        decode_next(&cur, in[k], P->in_hwc, P->c, P->h, P->w, &ch, &y, &x);
        y /= P->kh;
        x /= P->kw;
        if (y >= P->out_h || x >= P->out_w)
            continue; /* a partial window at the edge: dropped */
        o = (y * P->out_w + x) * P->c + ch;
        if (P->kind == ESNN_POOL_MAX) {
            if (seen[o])
                continue;
            seen[o] = 1u;
        }
        out[n_out++] = (uint16_t)o;
    }
    if (P->kind == ESNN_POOL_MAX)
        for (k = 0; k < n_out; ++k)
            seen[out[k]] = 0u;
    return n_out;
}

/* part[k] += row[k] for a short row (a convolution tap: one group's output channels). On
 * ARMv7-M four words at a time with double-word loads and stores (10 instructions per 8
 * synapses); the asm names exactly the 16 bytes it reads and writes and lets the compiler pick
 * its registers, so the loop's other values stay in registers (a block load's fixed register
 * list made the compiler spill them around every tap). */
#if defined(__GNUC__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__))
typedef struct {
    uint32_t w[4];
} esnn_quad_t;
#define ESNN_ADD_QUAD(o, r) \
    do { \
        uint32_t a_, b_, c_, d_; \
        __asm__("ldrd %[a], %[b], [%[pr]]\n\t" \
                "ldrd %[c], %[d], [%[po]]\n\t" \
                "add %[a], %[a], %[c]\n\t" \
                "add %[b], %[b], %[d]\n\t" \
                "strd %[a], %[b], [%[po]]\n\t" \
                "ldrd %[a], %[b], [%[pr], #8]\n\t" \
                "ldrd %[c], %[d], [%[po], #8]\n\t" \
                "add %[a], %[a], %[c]\n\t" \
                "add %[b], %[b], %[d]\n\t" \
                "strd %[a], %[b], [%[po], #8]\n\t" \
                : [a] "=&r"(a_), [b] "=&r"(b_), [c] "=&r"(c_), [d] "=&r"(d_), "+m"(*(esnn_quad_t *)(void *)(o)) \
                : [po] "r"(o), [pr] "r"(r), "m"(*(const esnn_quad_t *)(const void *)(r))); \
    } while (0)
#else
#define ESNN_ADD_QUAD(o, r) ESNN_ADD_4_WORDS(o, r)
#endif

static inline void add_words(uint32_t *part, const uint32_t *row, uint32_t words)
{
    uint32_t k;
    if ((words & 3u) == 0u) {
        for (k = 0; k < words; k += 4u)
            ESNN_ADD_QUAD(part + k, row + k);
        return;
    }
    for (k = 0; k < words; ++k)
        part[k] += row[k];
}

/* One input event of a convolution: add its kernel slice to every output position it reaches
 * (no im2col, no dense matrix); returns the synaptic events (taps x output channels). With
 * stride 1 the taps that land inside the map form one rectangle, computed up front. */
static uint32_t conv_event(const esnn_conv_t *K, const uint32_t *w, uint32_t *part, uint32_t idx, esnn_cursor_t *cur)
{
    uint32_t ch, y, x, taps = 0;
    int32_t ky, kx;
    const uint32_t *rows;
    uint32_t *base;
    decode_next(cur, idx, K->in_hwc, K->in_c, K->in_h, K->in_w, &ch, &y, &x);
    rows = w + ch * (uint32_t)K->kh * K->kw * K->words_g;
    base = part + (K->cig == K->in_c ? 0u : ch / K->cig) * K->words_g; /* one group: no division */
    if (K->sh == 1u && K->sw == 1u) {
        /* output (ty - ky, tx - kx) for taps ky in [ky0, ky1], kx in [kx0, kx1] */
        int32_t ty = (int32_t)y + K->ph, tx = (int32_t)x + K->pw;
        int32_t ky0 = ty - (int32_t)K->out_h + 1, ky1 = ty < (int32_t)K->kh - 1 ? ty : (int32_t)K->kh - 1;
        int32_t kx0 = tx - (int32_t)K->out_w + 1, kx1 = tx < (int32_t)K->kw - 1 ? tx : (int32_t)K->kw - 1;
        uint32_t nx;
        if (ky0 < 0)
            ky0 = 0;
        if (kx0 < 0)
            kx0 = 0;
        if (ky1 < ky0 || kx1 < kx0)
            return 0u;
        nx = (uint32_t)(kx1 - kx0 + 1);
        {
            /* the tap rows ky0..ky1: taps kx1 down to kx0 are adjacent in the table and reach
             * ox = tx - kx1 upwards; each next ky is one kernel row on in the table and one
             * output row back in the sums (pointers stepped, not recomputed: on the M0 the
             * products cost a register-starved reload of every field) */
            uint32_t wg = K->words_g, wp = K->words_pos, n = nx * wg, k;
            uint32_t n_rows = (uint32_t)(ky1 - ky0 + 1), left = n_rows;
            uint32_t r_step = (uint32_t)K->kw * wg, o_step = (uint32_t)K->out_w * wp;
            const uint32_t *r = rows + ((uint32_t)ky0 * K->kw + (uint32_t)(K->kw - 1u) - (uint32_t)kx1) * wg;
            uint32_t *o = base + ((uint32_t)(ty - ky0) * K->out_w + (uint32_t)(tx - kx1)) * wp;
            if (wp == wg && (n & 3u) == 0u) { /* one group: one run of nx * words_g words */
                for (;;) {
                    add_row(o, r, (uint16_t)n);
                    if (--left == 0u)
                        break; /* no step past the last row: that pointer could leave its array */
                    r += r_step;
                    o -= o_step;
                }
            } else {
                for (;;) {
                    if (wp == wg) {
                        for (k = 0; k < n; ++k)
                            o[k] += r[k];
                    } else {
                        for (k = 0; k < nx; ++k)
                            add_words(o + k * wp, r + k * wg, wg);
                    }
                    if (--left == 0u)
                        break;
                    r += r_step;
                    o -= o_step;
                }
            }
            return n_rows * nx * K->cog;
        }
    }
    for (ky = 0; ky < (int32_t)K->kh; ++ky) {
        int32_t ny = (int32_t)y + (int32_t)K->ph - ky; /* oy * sh */
        uint32_t oy;
        if (ny < 0)
            break; /* larger ky only lowers ny */
        oy = (uint32_t)ny / K->sh;
        if (oy * K->sh != (uint32_t)ny || oy >= K->out_h)
            continue;
        for (kx = 0; kx < (int32_t)K->kw; ++kx) {
            int32_t nx = (int32_t)x + (int32_t)K->pw - kx;
            uint32_t ox;
            if (nx < 0)
                break;
            ox = (uint32_t)nx / K->sw;
            if (ox * K->sw != (uint32_t)nx || ox >= K->out_w)
                continue;
            add_words(base + (oy * K->out_w + ox) * K->words_pos,
                      rows + ((uint32_t)ky * K->kw + (uint32_t)(K->kw - 1) - (uint32_t)kx) * K->words_g, K->words_g);
            ++taps;
        }
    }
    return taps * K->cog;
}

/* part[0 .. n) = 0 for n a multiple of 4 (the buffer is padded to 4 words). */
#if defined(__GNUC__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__))
static void clear_words(uint32_t *part, uint32_t n)
{
    n >>= 2;
    if (n == 0u)
        return;
    __asm__ volatile("mov r4, #0\n\t"
                     "mov r5, #0\n\t"
                     "mov r6, #0\n\t"
                     "mov r8, #0\n\t"
                     "1:\n\t"
                     "stmia %[p]!, {r4, r5, r6, r8}\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [p] "+r"(part), [n] "+r"(n)
                     :
                     : "r4", "r5", "r6", "r8", "cc", "memory");
}
#else
static void clear_words(uint32_t *part, uint32_t n)
{
    uint32_t k;
    for (k = 0; k < n; ++k)
        part[k] = 0u;
}
#endif

/* One timestep of a convolutional layer: events in chunks of at most m->chunk (the packed lanes
 * stay exact: each event adds at most one weight to each lane), then every neuron's update: the
 * generated one on the packed sums when one chunk held every event, else on the int32 sums. */
/* Events ev[start, end) of convolution K (tap rows w) into the packed sums `part`, cleared
 * first (`total` words); returns the synaptic events. A layer's own events and a graph's
 * convolutional connection both sum their chunks here. */
static inline uint32_t conv_chunk(const esnn_conv_t *K, const uint32_t *w, uint32_t *part, const uint16_t *ev,
                                  uint16_t start, uint16_t end, uint32_t total)
{
    uint32_t events = 0;
    esnn_cursor_t cur = ESNN_CURSOR_INIT;
    clear_words(part, (total + 3u) & ~3u);
    for (; start < end; ++start)
        events += conv_event(K, w, part, ev[start], &cur);
    return events;
}

#if !defined(ESNN_CHAIN_ONLY)
/* A graph's convolutional connection into a convolution (esnn_edge_t.conv): its events' taps
 * summed in packed chunks as the layer's own, then added to the int32 sums (same layout: the
 * same output shape and grouping, so the same lanes). Returns the synaptic events. */
static uint32_t conv_edge_sum(const esnn_model_t *m, esnn_state_t *s, const esnn_edge_t *E, const uint16_t *ev,
                              uint16_t n, uint32_t total)
{
    const esnn_conv_t *K = E->conv;
    uint16_t chunk = K->single_pass ? 65535u : m->chunk, start = 0;
    uint32_t events = 0;
    while (start < n) {
        uint16_t end = (uint16_t)(n - start > chunk ? start + chunk : n);
        events += conv_chunk(K, E->w, s->part, ev, start, end, total);
        esnn_unpack(s->acc, s->part, total, 0); /* adds: the sums hold the layer's own, or zeros */
        start = end;
    }
    return events;
}
#endif

uint16_t esnn_step_conv(const esnn_model_t *m, esnn_state_t *s, const esnn_layer_t *L, const uint16_t *in,
                        uint16_t n_in)
{
    const esnn_conv_t *K = L->conv;
    uint32_t positions = (uint32_t)K->out_h * K->out_w, lanes = 2u * K->words_pos, total = positions * K->words_pos;
    uint32_t p, events = 0;
    /* no lane can receive more than its receptive field's events: then one pass is exact */
    uint16_t chunk = K->single_pass ? 65535u : m->chunk;
    uint16_t start = 0, n_out_spikes = 0, g, col;
    int32_t *v = s->v + L->offset;
    int32_t *cur = (L->flags & ESNN_CUBA) ? s->i + L->offset : 0;
    uint16_t *out = s->spikes + L->offset;
    int have_input = n_in > 0u; /* 0: the first step without input after input (idle_layer) */
    int residual = 0; /* a graph's connections (one to one, or convolutions) have events this step */
#if !defined(ESNN_CHAIN_ONLY)
    for (g = 0; g < L->n_edges; ++g) {
        uint16_t n;
        (void)esnn_edge_events(m, s, &m->edges[L->first_edge + g], &n);
        residual |= n > 0u;
    }
#endif
    s->neuron_updates += L->n_out;
    while (start < n_in) {
        uint16_t end = (uint16_t)(n_in - start > chunk ? start + chunk : n_in);
        events += conv_chunk(K, L->w, s->part, in, start, end, total);
        start = end;
        if (end == n_in && end <= chunk && L->update_packed != 0 && !residual) {
            s->synops += events; /* one chunk: the update reads the packed sums */
            return L->update_packed(v, s->part, out);
        }
        esnn_unpack(s->acc, s->part, total, end <= chunk); /* the first chunk assigns */
    }
#if !defined(ESNN_CHAIN_ONLY)
    if (residual) { /* after the convolution's sums: each source spike adds its channel's weight */
        uint16_t e, k;
        if (!have_input)
            for (p = 0; p < 2u * total; ++p)
                s->acc[p] = 0;
        for (e = 0; e < L->n_edges; ++e) {
            const esnn_edge_t *E = &m->edges[L->first_edge + e];
            uint16_t n;
            const uint16_t *ev = esnn_edge_events(m, s, E, &n);
            if (E->conv != 0) { /* a convolution of its own */
                events += conv_edge_sum(m, s, E, ev, n, total);
                continue;
            }
            for (k = 0; k < n; ++k) {
                uint32_t j = ev[k], c = j % K->out_c, pos = j / K->out_c;
                s->acc[pos * lanes + 2u * (c / K->cog) * K->words_g + c % K->cog] += E->dw[c];
            }
            events += n;
        }
        have_input = 1;
    }
#endif
    s->synops += events;
    if (ESNN_GENERATED(L->update))
        return L->update(v, have_input ? s->acc : 0, out);
    for (p = 0; p < positions; ++p) {
        uint32_t j = p * K->out_c, lane = p * lanes;
        for (g = 0; g < K->out_c / K->cog; ++g) {
            for (col = 0; col < K->cog; ++col, ++j) {
                int32_t a = have_input ? s->acc[lane + 2u * g * K->words_g + col] : 0;
                uint32_t c = (uint32_t)g * K->cog + col;
                esnn_neuron_generic(m, L, c, a, v + j, cur ? cur + j : 0, (uint16_t)j, out, &n_out_spikes);
            }
        }
    }
    return n_out_spikes;
}
