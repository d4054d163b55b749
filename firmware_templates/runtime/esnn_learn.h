/*
 * On-device plasticity (docs/fixed-point.md, "Plasticity"): one layer whose packed weight rows
 * live in RAM learns with integer pair STDP or a label-gated three-factor rule. The host's
 * golden model (sdk/edgesnn/fixedpoint/plasticity.py) predicts every weight.
 */
#ifndef ESNN_LEARN_H
#define ESNN_LEARN_H

#include "esnn.h"

#define ESNN_LEARN_OFF 0u
#define ESNN_LEARN_PAIR 1u
#define ESNN_LEARN_THREE_FACTOR 2u
#define ESNN_TRACE_MAX 65535
#define ESNN_NO_LABEL (-1)

typedef struct {
    uint8_t mode;
    uint8_t lr_shift;
    int32_t alpha_pre, alpha_post; /* Q0.16 */
    int32_t a_pre, a_post, eta_plus, eta_minus;
    int32_t w_min, w_max;
} esnn_plasticity_t;

typedef struct {
    uint16_t layer; /* the learning layer (its rows must be in RAM) */
    uint32_t *w; /* that layer's packed rows: n_in x words */
    int32_t *x_pre; /* n_in presynaptic traces */
    int32_t *x_post; /* n_out postsynaptic traces */
    int32_t label; /* three-factor target, or ESNN_NO_LABEL */
    esnn_plasticity_t cfg;
} esnn_learn_t;

void esnn_learn_reset(const esnn_model_t *m, esnn_learn_t *ln);
/* esnn_step, then the plasticity rule on the learning layer after its neuron update. */
void esnn_step_learn(const esnn_model_t *m, esnn_state_t *s, esnn_learn_t *ln, const uint16_t *events,
                     uint16_t n_events);
/* Weight j (postsynaptic), k (presynaptic) of the learning layer. */
int32_t esnn_learn_get(const esnn_model_t *m, const esnn_learn_t *ln, uint16_t j, uint16_t k);
void esnn_learn_set(const esnn_model_t *m, esnn_learn_t *ln, uint16_t j, uint16_t k, int32_t w);

#endif
