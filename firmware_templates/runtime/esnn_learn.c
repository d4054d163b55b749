/* On-device plasticity: see esnn_learn.h and docs/fixed-point.md. */
#include "esnn_learn.h"

static int32_t lane(uint32_t word, unsigned hi)
{
    int32_t lo = esnn_lane_lo(word);
    return hi ? esnn_lane_hi(word, lo) : lo;
}

static uint32_t pack(int32_t lo, int32_t hi) { return (uint32_t)hi * 65536u + (uint32_t)lo; }

int32_t esnn_learn_get(const esnn_model_t *m, const esnn_learn_t *ln, uint16_t j, uint16_t k)
{
    const esnn_layer_t *L = &m->layers[ln->layer];
    return lane(ln->w[(uint32_t)k * L->words + (j >> 1)], j & 1u);
}

void esnn_learn_set(const esnn_model_t *m, esnn_learn_t *ln, uint16_t j, uint16_t k, int32_t w)
{
    const esnn_layer_t *L = &m->layers[ln->layer];
    uint32_t *word = &ln->w[(uint32_t)k * L->words + (j >> 1)];
    int32_t lo = esnn_lane_lo(*word), hi = esnn_lane_hi(*word, lo);
    if (j & 1u)
        hi = w;
    else
        lo = w;
    *word = pack(lo, hi);
}

/* dw is eta * trace >> lr_shift, up to 65535 * 65535 (lr_shift 0): 64-bit, so nothing wraps and
 * the clamp sees the exact sum, as in the golden model (fixedpoint/plasticity.py). */
static void add_clamped(const esnn_model_t *m, esnn_learn_t *ln, uint16_t j, uint16_t k, int64_t dw)
{
    int64_t w = (int64_t)esnn_learn_get(m, ln, j, k) + dw;
    w = w < ln->cfg.w_min ? ln->cfg.w_min : (w > ln->cfg.w_max ? ln->cfg.w_max : w);
    esnn_learn_set(m, ln, j, k, (int32_t)w);
}

static int32_t decay_trace(int32_t x, int32_t alpha)
{
    return (int32_t)esnn_rshift_round_half_up((int64_t)x * alpha, 16);
}

static int64_t lr(const esnn_learn_t *ln, int32_t eta, int32_t trace)
{
    return esnn_rshift_round_half_up((int64_t)eta * trace, ln->cfg.lr_shift);
}

void esnn_learn_reset(const esnn_model_t *m, esnn_learn_t *ln)
{
    const esnn_layer_t *L = &m->layers[ln->layer];
    uint16_t k;
    for (k = 0; k < L->n_in; ++k)
        ln->x_pre[k] = 0;
    for (k = 0; k < L->n_out; ++k)
        ln->x_post[k] = 0;
}

static void learn(const esnn_model_t *m, const esnn_state_t *s, esnn_learn_t *ln, const uint16_t *in, uint16_t n_in)
{
    const esnn_layer_t *L = &m->layers[ln->layer];
    const uint16_t *out = s->spikes + L->offset;
    uint16_t n_out = s->n_spikes[ln->layer], e, j, k;
    const esnn_plasticity_t *c = &ln->cfg;
    /* 1. decay both traces; 2. presynaptic spikes raise their traces */
    for (k = 0; k < L->n_in; ++k)
        ln->x_pre[k] = decay_trace(ln->x_pre[k], c->alpha_pre);
    for (j = 0; j < L->n_out; ++j)
        ln->x_post[j] = decay_trace(ln->x_post[j], c->alpha_post);
    for (e = 0; e < n_in; ++e) {
        int32_t t = ln->x_pre[in[e]] + c->a_pre;
        ln->x_pre[in[e]] = t > ESNN_TRACE_MAX ? ESNN_TRACE_MAX : t;
    }
    /* 3. weight updates */
    if (c->mode == ESNN_LEARN_PAIR) {
        for (e = 0; e < n_in; ++e) /* pre after post: depression of the spiking input's row */
            for (j = 0; j < L->n_out; ++j)
                add_clamped(m, ln, j, in[e], -lr(ln, c->eta_minus, ln->x_post[j]));
        for (e = 0; e < n_out; ++e) /* post after pre: potentiation of the spiking neuron's column */
            for (k = 0; k < L->n_in; ++k)
                add_clamped(m, ln, out[e], k, lr(ln, c->eta_plus, ln->x_pre[k]));
    } else if (c->mode == ESNN_LEARN_THREE_FACTOR && ln->label >= 0 && ln->label < (int32_t)L->n_out) {
        /* d[j] = (j == label) - z[j]: the target neuron is pushed to fire, the others not to */
        uint16_t target_spiked = 0;
        for (e = 0; e < n_out; ++e) {
            if (out[e] == (uint16_t)ln->label) {
                target_spiked = 1;
                continue;
            }
            for (k = 0; k < L->n_in; ++k)
                add_clamped(m, ln, out[e], k, -lr(ln, c->eta_plus, ln->x_pre[k]));
        }
        if (!target_spiked)
            for (k = 0; k < L->n_in; ++k)
                add_clamped(m, ln, (uint16_t)ln->label, k, lr(ln, c->eta_plus, ln->x_pre[k]));
    }
    /* 4. postsynaptic spikes raise their traces */
    for (e = 0; e < n_out; ++e) {
        int32_t t = ln->x_post[out[e]] + c->a_post;
        ln->x_post[out[e]] = t > ESNN_TRACE_MAX ? ESNN_TRACE_MAX : t;
    }
}

void esnn_step_learn(const esnn_model_t *m, esnn_state_t *s, esnn_learn_t *ln, const uint16_t *events,
                     uint16_t n_events)
{
    const uint16_t *in = events;
    uint16_t n_in = n_events, l;
    for (l = 0; l < m->n_layers; ++l) {
        uint16_t n_out = esnn_step_layer(m, s, l, in, n_in);
        if (l == ln->layer && ln->cfg.mode != ESNN_LEARN_OFF)
            learn(m, s, ln, in, n_in);
        in = s->spikes + m->layers[l].offset;
        n_in = n_out;
    }
}
