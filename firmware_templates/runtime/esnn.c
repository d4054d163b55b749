/* edgesnn C runtime: see esnn.h and docs/fixed-point.md. */
#include "esnn.h"

/*
 * floor(x / 2^s). Right shifts of negative values are implementation-defined in C99; GCC and
 * Clang define them as arithmetic (flooring) shifts, which is the rule, so they use one shift.
 * Other compilers get the portable spelling.
 */
static int64_t floor_shift(int64_t x, unsigned s)
{
#if defined(__GNUC__)
    return x >> s;
#else
    return x >= 0 ? (int64_t)((uint64_t)x >> s) : -(int64_t)((uint64_t)(-(x + 1)) >> s) - 1;
#endif
}

int64_t esnn_rshift_round_half_up(int64_t x, unsigned s)
{
    return s == 0u ? x : floor_shift(x + ((int64_t)1 << (s - 1u)), s);
}

static int32_t saturate(int64_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : (int32_t)x); }

/* decay(state, alpha) of the contract; the product needs 48 bits, the result (|state| * alpha
 * / 2^16 with alpha <= 2^16) always fits 32. */
static int32_t decay32(int32_t state, int32_t alpha)
{
    return (int32_t)esnn_rshift_round_half_up((int64_t)state * alpha, 16);
}

/* Steps 2-6 for one neuron without a generated update: synaptic sum a, parameters at index p
 * (the neuron, or its channel in a convolutional layer), state v (and cur); appends j to out if
 * it spikes. */
static void neuron_generic(const esnn_model_t *m, const esnn_layer_t *L, uint32_t p, int32_t a, int32_t *v,
                           int32_t *cur, uint16_t j, uint16_t *out, uint16_t *n_spikes)
{
    int32_t vv;
    if (L->flags & ESNN_FAST32) {
        /* Same arithmetic in 32 bits: the generator proved |acc * 2^shift| + |bias| + 2^(S-1)
         * < 2^31 (and S <= 30 for current-based layers), so no sum below can overflow. */
        int32_t x = a * ((int32_t)1 << L->shift) + L->bias[p];
        if (L->flags & ESNN_CUBA) {
            *cur = saturate(decay32(*cur, L->alpha_syn[p]) + x, m->state_lo, m->state_hi);
            x = *cur;
        }
        vv = saturate(decay32(*v, L->alpha_mem[p]) + x, m->state_lo, m->state_hi);
    } else {
        int64_t x = (int64_t)a * ((int64_t)1 << L->shift) + L->bias[p];
        if (L->flags & ESNN_CUBA) {
            *cur = saturate((int64_t)decay32(*cur, L->alpha_syn[p]) + x, m->state_lo, m->state_hi);
            x = *cur;
        }
        vv = saturate((int64_t)decay32(*v, L->alpha_mem[p]) + x, m->state_lo, m->state_hi);
    }
    /* steps 5-6: spike if v > threshold (strict), then reset; vv > threshold >= 1, so
     * vv - threshold cannot leave the state range */
    if (vv > L->threshold[p]) {
        out[(*n_spikes)++] = j;
        vv = (L->flags & ESNN_RESET_SUBTRACT) ? vv - L->threshold[p] : L->v_reset[p];
    }
    *v = vv;
}

void esnn_reset(const esnn_model_t *m, esnn_state_t *s)
{
    uint16_t l;
    for (l = 0; l < m->n_layers; ++l) {
        const esnn_layer_t *L = &m->layers[l];
        uint32_t j;
        for (j = 0; j < L->n_out; ++j) {
            s->v[L->offset + j] = 0;
            if (L->flags & ESNN_CUBA)
                s->i[L->offset + j] = 0;
        }
        s->n_spikes[l] = 0;
    }
    s->synops = 0;
    s->neuron_updates = 0;
}

/*
 * The hot loop: add one packed weight row to the partial sums, 4 words (8 synapses) per turn.
 * On ARMv7-M (Cortex-M3/M4/M7) block loads and stores make that 9 instructions per 8 synapses;
 * elsewhere the portable C below.
 */
#if defined(__GNUC__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__))
static void add_row(uint32_t *part, const uint32_t *row, uint16_t words)
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
#else
static void add_row(uint32_t *part, const uint32_t *row, uint16_t words)
{
    uint16_t n = (uint16_t)(words >> 2);
    while (n--) {
        uint32_t a0 = part[0], a1 = part[1], a2 = part[2], a3 = part[3];
        a0 += row[0];
        a1 += row[1];
        a2 += row[2];
        a3 += row[3];
        part[0] = a0;
        part[1] = a1;
        part[2] = a2;
        part[3] = a3;
        part += 4;
        row += 4;
    }
}
#endif

/* part = one row (the first event of a chunk: no clearing of part needed) */
#if defined(__GNUC__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__))
static void copy_row(uint32_t *part, const uint32_t *row, uint16_t words)
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
#else
static void copy_row(uint32_t *part, const uint32_t *row, uint16_t words)
{
    uint16_t k;
    for (k = 0; k < words; ++k)
        part[k] = row[k];
}
#endif

/* part = sum of rows[ev[e]] over n_ev >= 1 events, lane by lane (exact while n_ev <= chunk). */
static void sum_rows(uint32_t *part, const uint32_t *rows, uint16_t words, const uint16_t *ev, uint16_t n_ev)
{
    uint16_t e;
    copy_row(part, rows + (uint32_t)ev[0] * words, words);
    for (e = 1; e < n_ev; ++e)
        add_row(part, rows + (uint32_t)ev[e] * words, words);
}

/* acc[j] (+)= sum of rows[ev[e]][j] for all events, exactly: `assign` stores the first chunk's
 * sums instead of adding them, which saves clearing acc. n_ev >= 1. */
static void accumulate(const uint32_t *rows, uint16_t words, const uint16_t *ev, uint16_t n_ev, uint16_t chunk,
                       int32_t *acc, uint32_t *part, int assign)
{
    uint16_t start = 0;
    while (start < n_ev) {
        uint16_t end = (uint16_t)(n_ev - start > chunk ? start + chunk : n_ev);
        uint16_t k;
        sum_rows(part, rows, words, ev + start, (uint16_t)(end - start));
        /* both lanes before either store: acc and part may alias as far as C knows */
        if (assign) {
            for (k = 0; k < words; ++k) {
                uint32_t word = part[k];
                int32_t lo, hi;
                ESNN_LANES(word, lo, hi);
                acc[2 * k] = lo;
                acc[2 * k + 1] = hi;
            }
        } else {
            for (k = 0; k < words; ++k) {
                uint32_t word = part[k];
                int32_t lo, hi;
                ESNN_LANES(word, lo, hi);
                acc[2 * k] += lo;
                acc[2 * k + 1] += hi;
            }
        }
        assign = 0;
        start = end;
    }
}

/* Steps 2-6 for every neuron of a fully connected layer without a generated update. */
static uint16_t update_generic(const esnn_model_t *m, const esnn_layer_t *L, const int32_t *acc, int32_t *v,
                               int32_t *cur, uint16_t *out)
{
    uint16_t n_out_spikes = 0;
    uint16_t j;
    for (j = 0; j < L->n_out; ++j)
        neuron_generic(m, L, j, acc[j], v + j, cur ? cur + j : 0, j, out, &n_out_spikes);
    return n_out_spikes;
}

/* Map a layer's input spikes through its pooling into `out` (pooled indices, (y * w + x) * c + ch);
 * returns how many. Sum pooling keeps one event per spike, max pooling one per window. */
static uint16_t pool_events(const esnn_pool_t *P, const uint16_t *in, uint16_t n, uint16_t *out, uint8_t *seen)
{
    uint16_t k, n_out = 0;
    for (k = 0; k < n; ++k) {
        uint32_t idx = in[k], ch, y, x, o;
        if (P->in_hwc) {
            ch = idx % P->c;
            idx /= P->c;
            x = idx % P->w;
            y = idx / P->w;
        } else {
            x = idx % P->w;
            idx /= P->w;
            y = idx % P->h;
            ch = idx / P->h;
        }
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
#define ESNN_ADD_QUAD(o, r) \
    do { \
        (o)[0] += (r)[0]; \
        (o)[1] += (r)[1]; \
        (o)[2] += (r)[2]; \
        (o)[3] += (r)[3]; \
    } while (0)
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
static uint32_t conv_event(const esnn_conv_t *K, const uint32_t *w, uint32_t *part, uint32_t idx)
{
    uint32_t ch, y, x, taps = 0;
    int32_t ky, kx;
    const uint32_t *rows;
    uint32_t *base;
    if (K->in_hwc) {
        ch = idx % K->in_c;
        idx /= K->in_c;
        x = idx % K->in_w;
        y = idx / K->in_w;
    } else {
        x = idx % K->in_w;
        idx /= K->in_w;
        y = idx % K->in_h;
        ch = idx / K->in_h;
    }
    rows = w + ch * (uint32_t)K->kh * K->kw * K->words_g;
    base = part + (ch / K->cig) * K->words_g;
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
        for (ky = ky0; ky <= ky1; ++ky) {
            /* taps kx1 down to kx0 are adjacent in the table and reach ox = tx - kx1 upwards */
            const uint32_t *r = rows + ((uint32_t)ky * K->kw + (uint32_t)(K->kw - 1u) - (uint32_t)kx1) * K->words_g;
            uint32_t *o = base + ((uint32_t)(ty - ky) * K->out_w + (uint32_t)(tx - kx1)) * K->words_pos;
            uint32_t k;
            if (K->words_pos == K->words_g) { /* one group: one run of nx * words_g words */
                uint32_t n = nx * K->words_g;
                if ((n & 3u) == 0u) {
                    add_row(o, r, (uint16_t)n);
                } else {
                    for (k = 0; k < n; ++k)
                        o[k] += r[k];
                }
            } else {
                for (k = 0; k < nx; ++k)
                    add_words(o + k * K->words_pos, r + k * K->words_g, K->words_g);
            }
        }
        return (uint32_t)(ky1 - ky0 + 1) * nx * K->cog;
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
static uint16_t step_conv(const esnn_model_t *m, esnn_state_t *s, const esnn_layer_t *L, const uint16_t *in,
                          uint16_t n_in)
{
    const esnn_conv_t *K = L->conv;
    uint32_t positions = (uint32_t)K->out_h * K->out_w, lanes = 2u * K->words_pos, total = positions * K->words_pos;
    uint32_t p, k, events = 0;
    /* no lane can receive more than its receptive field's events: then one pass is exact */
    uint16_t chunk = K->single_pass ? 65535u : m->chunk;
    uint16_t start = 0, n_out_spikes = 0, g, col;
    int32_t *v = s->v + L->offset;
    int32_t *cur = (L->flags & ESNN_CUBA) ? s->i + L->offset : 0;
    uint16_t *out = s->spikes + L->offset;
    int have_input = n_in > 0u;
    s->neuron_updates += L->n_out;
    while (start < n_in) {
        uint16_t end = (uint16_t)(n_in - start > chunk ? start + chunk : n_in);
        clear_words(s->part, (total + 3u) & ~3u);
        for (; start < end; ++start)
            events += conv_event(K, L->w, s->part, in[start]);
        if (end == n_in && end <= chunk && L->update_packed != 0) {
            s->synops += events; /* one chunk: the update reads the packed sums */
            return L->update_packed(v, s->part, out);
        }
        for (k = 0; k < total; ++k) { /* both lanes before either store, as in accumulate */
            uint32_t word = s->part[k];
            int32_t lo, hi;
            ESNN_LANES(word, lo, hi);
            if (end <= chunk) {
                s->acc[2u * k] = lo;
                s->acc[2u * k + 1u] = hi;
            } else {
                s->acc[2u * k] += lo;
                s->acc[2u * k + 1u] += hi;
            }
        }
    }
    s->synops += events;
    if (L->update != 0)
        return L->update(v, have_input ? s->acc : 0, out);
    for (p = 0; p < positions; ++p) {
        uint32_t j = p * K->out_c, lane = p * lanes;
        for (g = 0; g < K->out_c / K->cog; ++g) {
            for (col = 0; col < K->cog; ++col, ++j) {
                int32_t a = have_input ? s->acc[lane + 2u * g * K->words_g + col] : 0;
                uint32_t c = (uint32_t)g * K->cog + col;
                neuron_generic(m, L, c, a, v + j, cur ? cur + j : 0, (uint16_t)j, out, &n_out_spikes);
            }
        }
    }
    return n_out_spikes;
}

uint16_t esnn_step_layer(const esnn_model_t *m, esnn_state_t *s, uint16_t l, const uint16_t *in, uint16_t n_in)
{
    const esnn_layer_t *L = &m->layers[l];
    if (L->pool != 0) {
        n_in = pool_events(L->pool, in, n_in, s->events, s->seen);
        in = s->events;
    }
    if (L->conv != 0) {
        s->n_spikes[l] = step_conv(m, s, L, in, n_in);
        return s->n_spikes[l];
    }
    uint16_t *out = s->spikes + L->offset;
    int32_t *v = s->v + L->offset;
    /* only current-based layers have current state (s->i is NULL in models without any):
     * forming s->i + offset otherwise would be an out-of-bounds pointer */
    int32_t *cur = (L->flags & ESNN_CUBA) ? s->i + L->offset : 0;
    /* `out` still lists this layer's spikes of the previous step: the recurrent input */
    uint16_t n_rec = (L->flags & ESNN_RECURRENT) ? s->n_spikes[l] : 0u;
    uint16_t n_out_spikes;
    s->synops += ((uint32_t)n_in + n_rec) * L->n_out;
    s->neuron_updates += L->n_out;
    if (L->update_packed != 0 && n_rec == 0u && n_in > 0u && n_in <= m->chunk) {
        /* one chunk of events and nothing else: the update reads the packed sums directly */
        sum_rows(s->part, L->w, L->words, in, n_in);
        n_out_spikes = L->update_packed(v, s->part, out);
    } else {
        int have_input = n_in > 0u || n_rec > 0u;
        if (n_in > 0u)
            accumulate(L->w, L->words, in, n_in, m->chunk, s->acc, s->part, 1);
        if (n_rec > 0u)
            accumulate(L->r, L->words, out, n_rec, m->chunk, s->acc, s->part, n_in == 0u);
        if (L->update != 0) {
            n_out_spikes = L->update(v, have_input ? s->acc : 0, out);
        } else {
            uint32_t j;
            if (!have_input)
                for (j = 0; j < 2u * L->words; ++j)
                    s->acc[j] = 0;
            n_out_spikes = update_generic(m, L, s->acc, v, cur, out);
        }
    }
    s->n_spikes[l] = n_out_spikes;
    return n_out_spikes;
}

void esnn_step(const esnn_model_t *m, esnn_state_t *s, const uint16_t *events, uint16_t n_events)
{
    const uint16_t *in = events;
    uint16_t n_in = n_events;
    uint16_t l;
    for (l = 0; l < m->n_layers; ++l) {
        n_in = esnn_step_layer(m, s, l, in, n_in);
        in = s->spikes + m->layers[l].offset;
    }
}

uint16_t esnn_predict(const esnn_model_t *m, const esnn_state_t *s, const uint16_t *counts)
{
    const esnn_layer_t *L = &m->layers[m->n_layers - 1u];
    uint16_t best = 0, j;
    for (j = 1; j < L->n_out; ++j) {
        if (counts[j] > counts[best] || (counts[j] == counts[best] && s->v[L->offset + j] > s->v[L->offset + best]))
            best = j;
    }
    return best;
}

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320, as zlib.crc32: chain by passing the last value). */
uint32_t esnn_crc32(uint32_t crc, const uint8_t *data, uint32_t len)
{
    uint32_t i;
    crc = ~crc;
    for (i = 0; i < len; ++i) {
        unsigned b;
        crc ^= data[i];
        for (b = 0; b < 8u; ++b)
            crc = (crc & 1u) ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
    }
    return ~crc;
}
