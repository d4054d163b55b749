/*
 * Self-check firmware: runs the embedded input spikes through the model and prints, per sample,
 * a CRC-32 of every state (see sdk/edgesnn/firmware/golden.py), the prediction, the synaptic
 * events and the ticks spent in esnn_step, then "END". The host compares the digests with the
 * golden simulator's. Line format (hex fields):
 *   "HELLO <board> <hash32> <abi> <contract>"
 *   "D <sample> <crc32> <prediction> <synops> <ticks> <neuron updates>"
 *   "A <sample> <crc32 of the front end's spike bitmaps> <ticks in the front end>" (audio models,
 *      before each D line: the embedded PCM goes through the front end on the device)
 *   "Z <ticks for one step with no input spikes>" (from a fresh state)
 *   "R <ticks for one step with no input spikes at rest> <steps it took to come to rest> <ticks of
 *      two timer reads with nothing between them (to subtract)>"
 *     (steps 0 with ticks 0: the model never came to rest within RESTING_STEPS idle steps)
 *   "END <samples>"
 */
#include "board_config.h"
#include "esnn_model.h"
#include "hal.h"
#include "selfcheck_inputs.h"

#define ROW_BYTES ((ESNN_MODEL_N_INPUTS + 7u) / 8u)
/* idle steps allowed to come to rest: membranes decaying from the state range's top take about
 * 16 / -log2(decay) steps per bit, so a few thousand cover any leak the quantizer emits */
#define RESTING_STEPS 20000u

int selfcheck_main(void);

static esnn_buffers_t buffers;
static esnn_state_t state;
static uint16_t events[ESNN_MODEL_N_INPUTS];
static uint8_t spiked[ESNN_MODEL_TOTAL_NEURONS];
static uint16_t counts[ESNN_MODEL_N_OUTPUTS];
#if ESNN_MODEL_HAS_AFE
static esnn_afe_state_t afe;
#endif

/* CRC-32 of every value in harness order (esnn_digest_step): unlike a sum, no two differing
 * values can cancel out */
static uint32_t digest;

#if ESNN_MODEL_HAS_DECISION
static int32_t scores[ESNN_MODEL_N_OUTPUTS];
static uint16_t cool;
static uint8_t settled;
#endif

/* One timestep without input spikes, and the decision rule where the model has one. */
static void idle_step(void)
{
    esnn_step(&esnn_model, &state, events, 0);
#if ESNN_MODEL_HAS_DECISION
    {
        const esnn_layer_t *L = &esnn_model.layers[esnn_model.n_layers - 1u];
        (void)esnn_decide(&esnn_model_decision, scores, &cool, &settled, esnn_model.n_outputs, state.spikes + L->offset,
                          state.n_spikes[esnn_model.n_layers - 1u]);
    }
#endif
}

int selfcheck_main(void)
{
    uint16_t n, t;
    uint32_t ticks0;
    hal_uart_init();
    hal_timer_init();
    esnn_bind(&state, &buffers);
    hal_puts("HELLO " BOARD_NAME " ");
    hal_puthex(esnn_model.hash32, 8);
    hal_putc(' ');
    hal_puthex(esnn_model.abi_version, 2);
    hal_putc(' ');
    hal_puthex(esnn_model.contract_version, 2);
    hal_putc('\n');
    for (n = 0; n < selfcheck_samples; ++n) {
        uint32_t ticks = 0;
        uint16_t k;
#if ESNN_MODEL_HAS_AFE
        uint32_t afe_digest = 0u, afe_ticks = 0u;
        uint8_t bits[ROW_BYTES];
        esnn_afe_reset(&afe);
#endif
        esnn_reset(&esnn_model, &state);
        digest = 0u;
        for (k = 0; k < ESNN_MODEL_N_OUTPUTS; ++k)
            counts[k] = 0;
        for (t = 0; t < selfcheck_steps; ++t) {
#if ESNN_MODEL_HAS_AFE
            const uint8_t *row = bits;
            ticks0 = hal_ticks();
            (void)esnn_afe_push(&esnn_model_afe, &afe,
                                selfcheck_pcm + ((uint32_t)n * selfcheck_steps + t) * ESNN_MODEL_AFE_SAMPLES_PER_STEP,
                                ESNN_MODEL_AFE_SAMPLES_PER_STEP, bits, 1u);
            afe_ticks += hal_ticks() - ticks0;
            afe_digest = esnn_crc32(afe_digest, bits, ROW_BYTES);
#else
            const uint8_t *row = selfcheck_bits + ((uint32_t)n * selfcheck_steps + t) * ROW_BYTES;
#endif
            uint16_t ne = 0;
            for (k = 0; k < ESNN_MODEL_N_INPUTS; ++k)
                if (row[k >> 3] & (1u << (k & 7u)))
                    events[ne++] = k;
            ticks0 = hal_ticks();
            esnn_step(&esnn_model, &state, events, ne);
            ticks += hal_ticks() - ticks0;
            digest = esnn_digest_step(&esnn_model, &state, spiked, digest);
            for (k = 0; k < ESNN_MODEL_N_OUTPUTS; ++k) /* spiked: the output layer's flags */
                counts[k] = (uint16_t)(counts[k] + spiked[k]);
        }
#if ESNN_MODEL_HAS_AFE
        hal_puts("A ");
        hal_puthex(n, 4);
        hal_putc(' ');
        hal_puthex(afe_digest, 8);
        hal_putc(' ');
        hal_puthex(afe_ticks, 8);
        hal_putc('\n');
#endif
        hal_puts("D ");
        hal_puthex(n, 4);
        hal_putc(' ');
        hal_puthex(digest, 8);
        hal_putc(' ');
        hal_puthex(esnn_predict(&esnn_model, &state, counts), 4);
        hal_putc(' ');
        hal_puthex(state.synops, 8);
        hal_putc(' ');
        hal_puthex(ticks, 8);
        hal_putc(' ');
        hal_puthex(state.neuron_updates, 8);
        hal_putc('\n');
    }
    {
        /* a step without input at rest: the last sample's states left to settle first (a stream
         * model's decision rule with them: its step counts too) */
        uint32_t steps = 0, rest_ticks = 0;
        while (!esnn_at_rest(&esnn_model, &state) && steps < RESTING_STEPS) {
            idle_step();
            ++steps;
        }
        if (esnn_at_rest(&esnn_model, &state)) {
            idle_step(); /* the rule settles one step after the network */
            ticks0 = hal_ticks();
            idle_step();
            rest_ticks = hal_ticks() - ticks0;
        } else {
            steps = 0;
        }
        hal_puts("R ");
        hal_puthex(rest_ticks, 8);
        hal_putc(' ');
        hal_puthex(steps, 8);
        hal_putc(' ');
        ticks0 = hal_ticks();
        hal_puthex(hal_ticks() - ticks0, 8);
        hal_putc('\n');
    }
    /* cost of a timestep without input spikes, from a fresh state */
    esnn_reset(&esnn_model, &state);
    ticks0 = hal_ticks();
    esnn_step(&esnn_model, &state, events, 0);
    ticks0 = hal_ticks() - ticks0;
    hal_puts("Z ");
    hal_puthex(ticks0, 8);
    hal_puts("\nEND ");
    hal_puthex(selfcheck_samples, 4);
    hal_putc('\n');
    return 0;
}

#ifndef ESNN_NO_MAIN /* frameworks with their own main() (Arduino) call selfcheck_main() */
int main(void) { return selfcheck_main(); }
#endif
