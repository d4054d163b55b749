/*
 * The decision rule of a stream model (docs/fixed-point.md, "Decision rule"; the golden model is
 * sdk/edgesnn/fixedpoint/decision.py): output spikes of a network that runs with no resets ->
 * detections. Per output k: a[k] = a[k] - (a[k] >> decay_shift) + (spike << ESNN_DECIDE_GAIN);
 * the leader (largest a, lowest index among equals) is detected when it is not the background
 * output, a[lead] >= threshold and a[lead] - (the largest other a) >= margin, unless a detection
 * came within the last `refractory` steps. Integer only; a[k] >= 0 always, so the shift of a
 * non-negative value is well defined.
 */
#ifndef ESNN_DECIDE_H
#define ESNN_DECIDE_H

#include <stdint.h>

#define ESNN_DECIDE_GAIN 8u
#define ESNN_NO_DETECTION (-1)

typedef struct {
    uint8_t decay_shift;
    int32_t threshold;
    int32_t margin;
    uint16_t refractory;
    int16_t background; /* an output index, or -1 */
} esnn_decision_t;

/* One step: update the scores a[n_out] with this step's output spikes (indices), then decide.
 * Returns the detected class, or ESNN_NO_DETECTION. `settled` (0 after a reset) is set when a
 * step without spikes changed no score, left no cool-down and detected nothing: the next step
 * without spikes then has the same outcome and costs one test (idle skipping of the rule). */
static inline int32_t esnn_decide(const esnn_decision_t *d, int32_t *a, uint16_t *cool, uint8_t *settled,
                                  uint16_t n_out, const uint16_t *spikes, uint16_t n_spikes)
{
    uint16_t k, lead = 0;
    int32_t top, second = 0, moved = 0;
    if (n_spikes == 0u && *settled)
        return ESNN_NO_DETECTION;
    for (k = 0; k < n_out; ++k) {
        int32_t dec = a[k] >> d->decay_shift;
        a[k] -= dec;
        moved |= dec;
    }
    for (k = 0; k < n_spikes; ++k)
        a[spikes[k]] += (int32_t)(1u << ESNN_DECIDE_GAIN);
    *settled = 0u;
    top = a[0];
    if (n_out > 1u)
        second = INT32_MIN;
    for (k = 1; k < n_out; ++k) {
        if (a[k] > top) {
            second = top;
            top = a[k];
            lead = k;
        } else if (a[k] > second) {
            second = a[k];
        }
    }
    if (*cool) {
        (*cool)--;
        return ESNN_NO_DETECTION;
    }
    if ((int32_t)lead != d->background && top >= d->threshold && top - second >= d->margin) {
        *cool = d->refractory;
        return (int32_t)lead;
    }
    *settled = (uint8_t)(n_spikes == 0u && moved == 0);
    return ESNN_NO_DETECTION;
}

#endif /* ESNN_DECIDE_H */
