/*
 * The integer audio front end of the contract (docs/fixed-point.md, "Audio front end";
 * sdk/edgesnn/fixedpoint/audio.py is the golden model): int16 PCM in, one bit per channel per
 * timestep out. C99, no malloc, no float; the caller owns the state.
 */
#ifndef ESNN_AUDIO_H
#define ESNN_AUDIO_H

#include <stdint.h>

#define ESNN_AFE_MAX_CHANNELS 64u
#define ESNN_AFE_COEF_BITS 14u
#define ESNN_AFE_FRAC_BITS 10u

typedef struct {
    const int16_t *c1; /* Q2.14 feedback coefficients, one per channel */
    const int16_t *c2;
    const uint8_t *g; /* input shifts 0..13 */
    uint16_t channels; /* 8..64 */
    uint16_t samples_per_step;
    uint8_t envelope_shift; /* E */
    uint8_t spike_shift; /* S <= E */
    uint8_t adaptive; /* 1: threshold from the loudest envelope; 0: eps << S */
    int32_t eps;
} esnn_afe_config_t;

typedef struct {
    int32_t w1[ESNN_AFE_MAX_CHANNELS], w2[ESNN_AFE_MAX_CHANNELS]; /* 4 W[n-1], 4 W[n-2] */
    int32_t sum[ESNN_AFE_MAX_CHANNELS]; /* R: this timestep's rectified output so far */
    int32_t m[ESNN_AFE_MAX_CHANNELS], u[ESNN_AFE_MAX_CHANNELS];
    uint16_t phase; /* samples of the current timestep so far */
} esnn_afe_state_t;

/* Every state 0. */
void esnn_afe_reset(esnn_afe_state_t *st);

/* Feed n samples; each completed timestep writes ceil(channels / 8) bytes of spikes (bit k of
 * byte k / 8 = channel k) to out, at most max_steps of them. Returns the timesteps written. */
uint32_t esnn_afe_push(const esnn_afe_config_t *cfg, esnn_afe_state_t *st, const int16_t *pcm, uint32_t n, uint8_t *out,
                       uint32_t max_steps);

#endif /* ESNN_AUDIO_H */
