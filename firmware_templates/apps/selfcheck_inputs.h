/* Input spikes embedded in the self-check firmware (generated selfcheck_inputs.c). */
#ifndef SELFCHECK_INPUTS_H
#define SELFCHECK_INPUTS_H
#include <stdint.h>
extern const uint16_t selfcheck_samples;
extern const uint16_t selfcheck_steps;
extern const uint8_t selfcheck_bits[]; /* models without an audio front end */
extern const int16_t selfcheck_pcm[]; /* audio models: PCM, the front end makes the spikes */
#endif
