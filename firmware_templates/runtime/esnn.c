/* edgesnn C runtime: see esnn.h and docs/fixed-point.md. */
#include "esnn.h"
#include "esnn_internal.h"

/* once per sample or per verified step, never in the timestep's loops: GCC optimizes cold
 * functions for size */
#if defined(__GNUC__)
#define ESNN_COLD __attribute__((cold))
#else
#define ESNN_COLD
#endif

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
void esnn_neuron_generic(const esnn_model_t *m, const esnn_layer_t *L, uint32_t p, int32_t a, int32_t *v, int32_t *cur,
                         uint16_t j, uint16_t *out, uint16_t *n_spikes)
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

ESNN_COLD void esnn_reset(const esnn_model_t *m, esnn_state_t *s)
{
    uint16_t l;
    for (l = 0; l < m->n_layers; ++l) {
        const esnn_layer_t *L = &m->layers[l];
        int32_t *v = s->v + L->offset, *end = v + L->n_out; /* one store and a test per neuron */
        while (v != end)
            *v++ = 0;
        if (L->flags & ESNN_CUBA) {
            int32_t *i = s->i + L->offset, *i_end = i + L->n_out;
            while (i != i_end)
                *i++ = 0;
        }
        s->n_spikes[l] = 0;
        s->n_awake[l] = ESNN_AWAKE_ALL; /* the zero state is a fixed point only without bias */
    }
    s->awake_layers = m->n_layers;
    s->synops = 0;
    s->neuron_updates = 0;
}

/*
 * Cores with 31 general registers (RISC-V but RV32E, AArch64; x86-64 takes it too, so that host
 * builds under ASan run this code): the sums of a tile of words stay in registers while every event's
 * row adds to them. Per event and 16-word tile on RV32: the row's address (lhu, mul, add), a
 * load and an add per word, the loop step and test: 37 instructions per 32 synaptic events,
 * where sums kept in memory cost a load and a store per word on top. Words add modulo 2^32 in
 * any order, so the sums are bit for bit those of the row-at-a-time loop.
 */
#if (defined(__riscv) && !defined(__riscv_32e)) || defined(__aarch64__) || defined(__x86_64__)
#define ESNN_T4(X) X(0) X(1) X(2) X(3)
#define ESNN_T8(X) ESNN_T4(X) X(4) X(5) X(6) X(7)
#define ESNN_T16(X) ESNN_T8(X) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define ESNN_ROW(e) ((const uint32_t *)(const void *)(base + (uint32_t)ev[e] * row_bytes))
#define ESNN_FIRST(k) uint32_t s##k = r[k];
#define ESNN_ADD(k) s##k += r[k];
#define ESNN_STORE(k) part[k] = s##k;
#define ESNN_TILE(name, T) \
    static void name(uint32_t *part, const char *base, uint32_t row_bytes, const uint16_t *ev, uint16_t n_ev) \
    { \
        const uint32_t *r = ESNN_ROW(0); \
        uint16_t e; \
        T(ESNN_FIRST) \
        for (e = 1; e < n_ev; ++e) { \
            r = ESNN_ROW(e); \
            T(ESNN_ADD) \
        } \
        T(ESNN_STORE) \
    }
#if defined(__GNUC__) && defined(__OPTIMIZE__) && defined(__riscv) && defined(__riscv_mul) && __riscv_xlen == 32
/* GCC, left to the C tile of 16, loads all 16 words of a row before adding any and spills half
 * the sums to the stack; here the sums live in s0-s11 and t3-t6 (t1, t2 take alternate words,
 * so no add waits on the load just before it). */
/* clang-format off */
#define ESNN_RV_SUMS(OP, BASE) \
    OP " s0, 0(" BASE ")\n\t" OP " s1, 4(" BASE ")\n\t" OP " s2, 8(" BASE ")\n\t" OP " s3, 12(" BASE ")\n\t" \
    OP " s4, 16(" BASE ")\n\t" OP " s5, 20(" BASE ")\n\t" OP " s6, 24(" BASE ")\n\t" OP " s7, 28(" BASE ")\n\t" \
    OP " s8, 32(" BASE ")\n\t" OP " s9, 36(" BASE ")\n\t" OP " s10, 40(" BASE ")\n\t" OP " s11, 44(" BASE ")\n\t" \
    OP " t3, 48(" BASE ")\n\t" OP " t4, 52(" BASE ")\n\t" OP " t5, 56(" BASE ")\n\t" OP " t6, 60(" BASE ")\n\t"
#define ESNN_RV_ADD2(A, B, OFF_A, OFF_B) \
    "lw t1, " OFF_A "(t0)\n\t" \
    "lw t2, " OFF_B "(t0)\n\t" \
    "add " A ", " A ", t1\n\t" \
    "add " B ", " B ", t2\n\t"
#define ESNN_RV_ROW_ADDRESS \
    "lhu t0, 0(%[ev])\n\t" \
    "mul t0, t0, %[rb]\n\t" \
    "add t0, t0, %[base]\n\t" \
    "addi %[ev], %[ev], 2\n\t"
/* clang-format on */
static void sum_tile16(uint32_t *part, const char *base, uint32_t row_bytes, const uint16_t *ev, uint16_t n_ev)
{
    const uint16_t *end = ev + n_ev;
    __asm__ volatile(
        ESNN_RV_ROW_ADDRESS ESNN_RV_SUMS(
            "lw", "t0") "beq %[ev], %[end], 2f\n"
                        "1:\n\t" ESNN_RV_ROW_ADDRESS ESNN_RV_ADD2("s0", "s1", "0", "4")
                            ESNN_RV_ADD2("s2", "s3", "8", "12") ESNN_RV_ADD2("s4", "s5", "16", "20")
                                ESNN_RV_ADD2("s6", "s7", "24", "28") ESNN_RV_ADD2("s8", "s9", "32", "36")
                                    ESNN_RV_ADD2("s10", "s11", "40", "44") ESNN_RV_ADD2("t3", "t4", "48", "52")
                                        ESNN_RV_ADD2("t5", "t6", "56", "60") "bne %[ev], %[end], 1b\n"
                                                                             "2:\n\t" ESNN_RV_SUMS("sw", "%[part]")
        : [ev] "+&r"(ev)
        : [end] "r"(end), [base] "r"(base), [rb] "r"(row_bytes), [part] "r"(part)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t0", "t1", "t2", "t3", "t4", "t5",
          "t6", "memory");
}
#undef ESNN_RV_ROW_ADDRESS
#undef ESNN_RV_ADD2
#undef ESNN_RV_SUMS
#else
ESNN_TILE(sum_tile16, ESNN_T16)
#endif
ESNN_TILE(sum_tile8, ESNN_T8)
ESNN_TILE(sum_tile4, ESNN_T4)
#undef ESNN_TILE
#undef ESNN_STORE
#undef ESNN_ADD
#undef ESNN_FIRST
#undef ESNN_ROW
#undef ESNN_T16
#undef ESNN_T8
#undef ESNN_T4

/* part = sum of rows[ev[e]] over n_ev >= 1 events, lane by lane (exact while n_ev <= chunk);
 * words is a multiple of 4 (the row padding) */
static void sum_rows(uint32_t *part, const uint32_t *rows, uint16_t words, const uint16_t *ev, uint16_t n_ev)
{
    uint32_t t = 0, row_bytes = 4u * words;
    for (; t + 16u <= words; t += 16u)
        sum_tile16(part + t, (const char *)(const void *)(rows + t), row_bytes, ev, n_ev);
    if (t + 8u <= words) {
        sum_tile8(part + t, (const char *)(const void *)(rows + t), row_bytes, ev, n_ev);
        t += 8u;
    }
    if (t < words)
        sum_tile4(part + t, (const char *)(const void *)(rows + t), row_bytes, ev, n_ev);
}
#else
/* part = sum of rows[ev[e]] over n_ev >= 1 events, lane by lane (exact while n_ev <= chunk). */
static void sum_rows(uint32_t *part, const uint32_t *rows, uint16_t words, const uint16_t *ev, uint16_t n_ev)
{
    uint16_t e;
    copy_row(part, rows + (uint32_t)ev[0] * words, words);
    for (e = 1; e + 3u <= n_ev; e = (uint16_t)(e + 3u))
        add_rows3(part, rows + (uint32_t)ev[e] * words, rows + (uint32_t)ev[e + 1u] * words,
                  rows + (uint32_t)ev[e + 2u] * words, words);
    if (n_ev - e == 2)
        add_rows2(part, rows + (uint32_t)ev[e] * words, rows + (uint32_t)ev[e + 1u] * words, words);
    else if (n_ev - e == 1)
        add_row(part, rows + (uint32_t)ev[e] * words, words);
}
#endif

/* acc[j] (+)= sum of rows[ev[e]][j] for all events, exactly: `assign` stores the first chunk's
 * sums instead of adding them, which saves clearing acc. n_ev >= 1. */
static void accumulate(const uint32_t *rows, uint16_t words, const uint16_t *ev, uint16_t n_ev, uint16_t chunk,
                       int32_t *acc, uint32_t *part, int assign)
{
    uint16_t start = 0;
    while (start < n_ev) {
        uint16_t end = (uint16_t)(n_ev - start > chunk ? start + chunk : n_ev);
        sum_rows(part, rows, words, ev + start, (uint16_t)(end - start));
        esnn_unpack(acc, part, words, assign);
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
        esnn_neuron_generic(m, L, j, acc[j], v + j, cur ? cur + j : 0, j, out, &n_out_spikes);
    return n_out_spikes;
}

/*
 * A timestep without synaptic input for the awake neurons of layer l (generic parameters: p is
 * the neuron, or its channel in a convolutional layer); keeps awake the ones whose state changed
 * or that spiked. Returns the layer's spike count.
 */
static uint16_t idle_generic(const esnn_model_t *m, const esnn_layer_t *L, int32_t *v, int32_t *cur, uint16_t *awake,
                             uint16_t n_awake, uint16_t *out, uint16_t *n_spikes)
{
    uint16_t k, kept = 0, n = n_awake >= ESNN_AWAKE_TRACK ? L->n_out : n_awake;
    uint16_t per = L->conv != 0 ? L->conv->out_c : 0u;
    for (k = 0; k < n; ++k) {
        uint16_t j = n_awake >= ESNN_AWAKE_TRACK ? k : awake[k], before = *n_spikes;
        int32_t v0 = v[j], i0 = cur ? cur[j] : 0;
        esnn_neuron_generic(m, L, per ? (uint32_t)j % per : j, 0, v + j, cur ? cur + j : 0, j, out, n_spikes);
        if (*n_spikes != before || v[j] != v0 || (cur && cur[j] != i0))
            awake[kept++] = j;
    }
    return kept;
}

static uint16_t idle_layer(const esnn_model_t *m, esnn_state_t *s, uint16_t l)
{
    const esnn_layer_t *L = &m->layers[l];
    uint16_t n_awake = s->n_awake[l], n_out_spikes = 0;
    uint16_t *awake = s->awake + L->offset, *out = s->spikes + L->offset;
    int32_t *v = s->v + L->offset;
    int32_t *cur = (L->flags & ESNN_CUBA) ? s->i + L->offset : 0; /* see esnn_step_layer */
    if (n_awake == 0u)
        return 0u;
    s->neuron_updates += n_awake >= ESNN_AWAKE_TRACK ? L->n_out : n_awake;
    if (n_awake == ESNN_AWAKE_ALL) { /* the first step without input: the plain update */
        s->n_awake[l] = ESNN_AWAKE_TRACK;
        if (L->conv != 0) {
            s->neuron_updates -= L->n_out; /* the convolution's step counts its own */
            return L->conv->step(m, s, L, out, 0u);
        }
        if (ESNN_GENERATED(L->update))
            return L->update(v, 0, out);
        {
            uint32_t j;
            for (j = 0; j < 2u * L->words; ++j)
                s->acc[j] = 0;
        }
        return update_generic(m, L, s->acc, v, cur, out);
    }
    if (ESNN_GENERATED(L->idle))
        n_awake = L->idle(v, awake, n_awake, out, &n_out_spikes);
    else
        n_awake = idle_generic(m, L, v, cur, awake, n_awake, out, &n_out_spikes);
    s->n_awake[l] = n_awake;
    if (n_awake == 0u)
        s->awake_layers--; /* it was awake: this layer has just come to rest */
    return n_out_spikes;
}

/* A graph's connections (esnn_edge_t). -DESNN_CHAIN_ONLY leaves them out of a chain's firmware
 * (edgesnn build passes it for chains; the generated esnn_model.c of a graph refuses it). */
#if defined(ESNN_CHAIN_ONLY)
#define ESNN_EDGES_IN(m, s, L) 0u
#else
#define ESNN_EDGES_IN(m, s, L) ((L)->n_edges != 0u ? edges_in((m), (s), (L)) : 0u)

/* Events on every extra connection of L now (several connections may read one source). */
static uint32_t edges_in(const esnn_model_t *m, const esnn_state_t *s, const esnn_layer_t *L)
{
    uint32_t total = 0;
    uint16_t k, n;
    for (k = 0; k < L->n_edges; ++k) {
        (void)esnn_edge_events(m, s, &m->edges[L->first_edge + k], &n);
        total += n;
    }
    return total;
}
#endif

/* One population's timestep: its neurons' own spikes into s->spikes + offset (esnn_step_layer). */
static uint16_t population_step(const esnn_model_t *m, esnn_state_t *s, uint16_t l, const uint16_t *in, uint16_t n_in)
{
    const esnn_layer_t *L = &m->layers[l];
    /* `out` still lists this layer's spikes of the previous step: the recurrent input */
    uint16_t n_rec = (L->flags & ESNN_RECURRENT) ? s->n_spikes[l] : 0u;
    uint32_t n_edge = ESNN_EDGES_IN(m, s, L);
    if (L->pool != 0 && n_in > 0u) {
        n_in = L->pool->map(L->pool, in, n_in, s->events, s->seen);
        in = s->events;
    }
    if (n_in == 0u && n_rec == 0u && n_edge == 0u) {
        s->n_spikes[l] = idle_layer(m, s, l);
        return s->n_spikes[l];
    }
    if (s->n_awake[l] == 0u)
        s->awake_layers++;
    s->n_awake[l] = ESNN_AWAKE_ALL; /* input reaches every neuron (or every neuron may be off rest) */
    if (L->conv != 0) { /* convolutional layers have no extra connections (rule graph-runtime) */
        s->n_spikes[l] = L->conv->step(m, s, L, in, n_in);
        return s->n_spikes[l];
    }
    uint16_t *out = s->spikes + L->offset;
    int32_t *v = s->v + L->offset;
    /* only current-based layers have current state (s->i is NULL in models without any):
     * forming s->i + offset otherwise would be an out-of-bounds pointer */
    int32_t *cur = (L->flags & ESNN_CUBA) ? s->i + L->offset : 0;
    uint16_t n_out_spikes;
    s->synops += ((uint32_t)n_in + n_rec + n_edge) * L->n_out;
    s->neuron_updates += L->n_out;
    if (L->update_packed != 0 && n_rec == 0u && n_edge == 0u && n_in > 0u && n_in <= m->chunk) {
        /* one chunk of events and nothing else: the update reads the packed sums directly */
        sum_rows(s->part, L->w, L->words, in, n_in);
        n_out_spikes = L->update_packed(v, s->part, out);
    } else { /* input events, recurrent spikes or a connection's: steps without any went to idle_layer */
        if (n_in > 0u) /* the first sum stores, the rest add */
            accumulate(L->w, L->words, in, n_in, m->chunk, s->acc, s->part, 1);
        int assign = n_in == 0u; /* nothing summed yet */
#if !defined(ESNN_CHAIN_ONLY)
        uint16_t k;
        for (k = 0; k < L->n_edges; ++k) { /* before the recurrent sum: it reads `out`, as do self-edges */
            const esnn_edge_t *E = &m->edges[L->first_edge + k];
            uint16_t n;
            const uint16_t *ev = esnn_edge_events(m, s, E, &n);
            if (n > 0u) {
                accumulate(E->w, L->words, ev, n, m->chunk, s->acc, s->part, assign);
                assign = 0;
            }
        }
#endif
        if (n_rec > 0u)
            accumulate(L->r, L->words, out, n_rec, m->chunk, s->acc, s->part, assign);
        if (ESNN_GENERATED(L->update))
            n_out_spikes = L->update(v, s->acc, out);
        else
            n_out_spikes = update_generic(m, L, s->acc, v, cur, out);
    }
    s->n_spikes[l] = n_out_spikes;
    return n_out_spikes;
}

#if !defined(ESNN_CHAIN_ONLY)
/* A SEW gate: the layer's list `a` (n_a, in its own buffer of n_out slots) becomes a OR src or
 * (NOT a) AND src. The marks in s->seen (all zero between steps, as max pooling leaves them)
 * are set and cleared here, so the result needs no second list; its order is not the contract's
 * concern (every reader sums or marks). */
static uint16_t apply_gate(const esnn_layer_t *L, esnn_state_t *s, uint16_t *a, uint16_t n_a, const uint16_t *src,
                           uint16_t n_src)
{
    uint8_t *mark = s->seen;
    uint16_t k, n = 0;
    if (L->flags & ESNN_GATE_OR) {
        for (k = 0; k < n_a; ++k)
            mark[a[k]] = 1u;
        n = n_a;
        for (k = 0; k < n_src; ++k)
            if (mark[src[k]] == 0u)
                a[n++] = src[k];
        for (k = 0; k < n_a; ++k) /* only a's were marked */
            mark[a[k]] = 0u;
        return n;
    }
    for (k = 0; k < n_src; ++k) /* IAND: the source's spikes ... */
        mark[src[k]] = 1u;
    for (k = 0; k < n_a; ++k) /* ... where the layer's own did not spike */
        mark[a[k]] = 0u;
    for (k = 0; k < n_src; ++k) {
        if (mark[src[k]] != 0u) {
            a[n++] = src[k];
            mark[src[k]] = 0u;
        }
    }
    return n;
}
#endif

uint16_t esnn_step_layer(const esnn_model_t *m, esnn_state_t *s, uint16_t l, const uint16_t *in, uint16_t n_in)
{
    uint16_t n = population_step(m, s, l, in, n_in);
#if !defined(ESNN_CHAIN_ONLY)
    const esnn_layer_t *L = &m->layers[l];
    if (L->flags & ESNN_GATED) { /* its source is an earlier layer: this step's list */
        const esnn_layer_t *G = &m->layers[L->gate_source];
        n = apply_gate(L, s, s->spikes + L->offset, n, s->spikes + G->offset, s->n_spikes[L->gate_source]);
        s->n_spikes[l] = n;
    }
#endif
    return n;
}

void esnn_step(const esnn_model_t *m, esnn_state_t *s, const uint16_t *events, uint16_t n_events)
{
    const uint16_t *in = events;
    uint16_t n_in = n_events;
    uint16_t l;
    if (n_events == 0u && s->awake_layers == 0u)
        return; /* the whole network at rest: a step without input changes nothing */
#if !defined(ESNN_CHAIN_ONLY)
    s->input = events; /* for connections from the input */
    s->n_input = n_events;
#endif
    for (l = 0; l < m->n_layers; ++l) {
        const esnn_layer_t *L = &m->layers[l];
#if !defined(ESNN_CHAIN_ONLY)
        /* a graph: the layer's own source, not necessarily the layer before (a chain's source
         * is the layer before: the same) */
        in = L->source < 0 ? events : s->spikes + m->layers[L->source].offset;
        n_in = L->source < 0 ? n_events : s->n_spikes[L->source];
        /* a layer at rest without input stays as it is: n_awake 0 means that its last step
         * changed nothing and emitted no spike (so n_spikes[l] is 0 and no recurrent input).
         * A gated layer emits its source's spikes too: it always runs (its neurons may idle). */
        if (n_in == 0u && s->n_awake[l] == 0u && ESNN_EDGES_IN(m, s, L) == 0u && (L->flags & ESNN_GATED) == 0u)
            continue;
#else
        if (n_in == 0u && s->n_awake[l] == 0u)
            continue;
#endif
        n_in = esnn_step_layer(m, s, l, in, n_in);
        in = s->spikes + L->offset;
    }
}

int esnn_at_rest(const esnn_model_t *m, const esnn_state_t *s)
{
    (void)m;
    return s->awake_layers == 0u;
}

ESNN_COLD uint16_t esnn_predict(const esnn_model_t *m, const esnn_state_t *s, const uint16_t *counts)
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

static uint32_t crc_word(uint32_t crc, uint32_t u)
{
    uint8_t b[4];
    b[0] = (uint8_t)u;
    b[1] = (uint8_t)(u >> 8);
    b[2] = (uint8_t)(u >> 16);
    b[3] = (uint8_t)(u >> 24);
    return esnn_crc32(crc, b, 4u);
}

ESNN_COLD uint32_t esnn_digest_step(const esnn_model_t *m, const esnn_state_t *s, uint8_t *spiked, uint32_t crc)
{
    uint16_t l, k;
    for (l = 0; l < m->n_layers; ++l) {
        const esnn_layer_t *L = &m->layers[l];
        for (k = 0; k < L->n_out; ++k)
            spiked[k] = 0u;
        for (k = 0; k < s->n_spikes[l]; ++k)
            spiked[s->spikes[L->offset + k]] = 1u;
        for (k = 0; k < L->n_out; ++k)
            crc = crc_word(crc, (uint32_t)s->v[L->offset + k]);
        if (L->flags & ESNN_CUBA)
            for (k = 0; k < L->n_out; ++k)
                crc = crc_word(crc, (uint32_t)s->i[L->offset + k]);
        for (k = 0; k < L->n_out; ++k)
            crc = crc_word(crc, spiked[k]);
    }
    return crc;
}
