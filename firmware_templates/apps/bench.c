/*
 * Kernel benchmark firmware (tools/bench/firmware.py): one layer, timed with the board counter
 * (QEMU -icount shift=7: 3.2 CMSDK ticks per instruction). For each input activity k it prints
 *   "E <k> <ticks of esnn_step with k input spikes>"
 *   "X <k> <ticks of a plain dense int8 loop over the same layer>"
 *   "U <n> <ticks of the specialised neuron update alone>" (layers that have one)
 *   "N <n> <ticks of that update without synaptic input>" (the whole step without input before
 *      idle skipping: what the marginal cost of a synaptic event is measured against)
 *   "R 0 <ticks of esnn_step without input once the layer is at rest>"
 *   "C 200 <ticks of 200 nops>" (calibration)
 * then "END".
 */
#include "board_config.h"
#include "esnn_model.h"
#include "hal.h"
#include "bench_dense.h"
#include "bench_end.h"

static esnn_buffers_t buffers;
static esnn_state_t state;
static uint16_t events[ESNN_MODEL_N_INPUTS];
static uint8_t spikes_in[ESNN_MODEL_N_INPUTS];
static int32_t dense_acc[ESNN_MODEL_N_OUTPUTS];

/* One result line: "<tag> <activity> <ticks>" in hex. */
static void report(char tag, uint32_t k, uint32_t ticks)
{
    hal_putc(tag);
    hal_putc(' ');
    hal_puthex(k, 8);
    hal_putc(' ');
    hal_puthex(ticks, 8);
    hal_putc('\n');
}

/* The baseline: a plain loop over int8 weights, one multiply-accumulate per synapse. */
__attribute__((noinline)) static void dense_layer(const int8_t *w, const uint8_t *s, int32_t *acc)
{
    uint32_t j, k;
    for (j = 0; j < ESNN_MODEL_N_OUTPUTS; ++j) {
        int32_t a = 0;
        const int8_t *row = w + j * ESNN_MODEL_N_INPUTS;
        for (k = 0; k < ESNN_MODEL_N_INPUTS; ++k)
            a += row[k] * s[k];
        acc[j] = a;
    }
}

int main(void)
{
    static const uint16_t activity[] = {0, 1, 2, 4, 8, 16, 32, 64, 128, 256};
    uint32_t a, t0, t1;
    hal_uart_init();
    hal_timer_init();
    esnn_bind(&state, &buffers);
    for (a = 0; a < sizeof activity / sizeof activity[0]; ++a) {
        uint16_t k = activity[a], e;
        if (k > ESNN_MODEL_N_INPUTS)
            break;
        for (e = 0; e < ESNN_MODEL_N_INPUTS; ++e)
            spikes_in[e] = 0;
        for (e = 0; e < k; ++e) {
            events[e] = (uint16_t)((uint32_t)e * ESNN_MODEL_N_INPUTS / k);
            spikes_in[events[e]] = 1;
        }
        esnn_reset(&esnn_model, &state);
        t0 = hal_ticks();
        esnn_step(&esnn_model, &state, events, k);
        t1 = hal_ticks();
        report('E', k, t1 - t0);
        t0 = hal_ticks();
        dense_layer(bench_dense_w, spikes_in, dense_acc);
        t1 = hal_ticks();
        report('X', k, t1 - t0);
    }
    /* the layer's specialised neuron update alone, with the synaptic input of the last step */
    if (esnn_model.layers[0].update != 0) {
        const esnn_layer_t *L = &esnn_model.layers[0];
        t0 = hal_ticks();
        (void)L->update(state.v + L->offset, state.acc, state.spikes + L->offset);
        t1 = hal_ticks();
        report('U', L->n_out, t1 - t0);
        t0 = hal_ticks();
        (void)L->update(state.v + L->offset, 0, state.spikes + L->offset);
        t1 = hal_ticks();
        report('N', L->n_out, t1 - t0);
    }
    {
        uint32_t k = 0;
        while (!esnn_at_rest(&esnn_model, &state) && k++ < 20000u)
            esnn_step(&esnn_model, &state, events, 0);
        t0 = hal_ticks();
        esnn_step(&esnn_model, &state, events, 0);
        t1 = hal_ticks();
        report('R', esnn_at_rest(&esnn_model, &state) ? 0u : 1u, t1 - t0);
    }
    bench_end();
    return 0;
}
