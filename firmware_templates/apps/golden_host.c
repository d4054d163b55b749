/*
 * Host harness: run the generated model on input events read from stdin and write every state.
 * Used to hold the C runtime to the golden simulator (tests, `edgesnn build --board host`).
 *
 * stdin : u32 samples, u32 steps, then per sample and step: u16 n, u16 events[n]
 * stdout: per sample, per step, per layer: i32 v[n_out], (CUBA) i32 i[n_out], u8 spiked[n_out];
 *         then per sample: u16 prediction, u32 synops, u32 neuron updates performed
 * All little-endian (the host's order; checked at start).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esnn_model.h"

static esnn_buffers_t buffers;
static uint16_t events[ESNN_MODEL_N_INPUTS];
static uint8_t spiked[ESNN_MODEL_TOTAL_NEURONS];
static uint16_t counts[ESNN_MODEL_N_OUTPUTS];

static int read_exact(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }

static void die(const char *msg)
{
    fprintf(stderr, "golden_host: %s\n", msg);
    exit(2);
}

int main(void)
{
    esnn_state_t st;
    uint32_t header[2], n, t;
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1)
        die("big-endian hosts are not supported");
    if (!read_exact(header, sizeof header))
        die("missing header");
    esnn_bind(&st, &buffers);
    for (n = 0; n < header[0]; ++n) {
        uint16_t pred;
        uint32_t synops;
        esnn_reset(&esnn_model, &st);
        memset(counts, 0, sizeof counts);
        for (t = 0; t < header[1]; ++t) {
            uint16_t ne, l, k;
            if (!read_exact(&ne, sizeof ne) || ne > ESNN_MODEL_N_INPUTS)
                die("bad event count");
            if (!read_exact(events, (size_t)ne * sizeof events[0]))
                die("truncated events");
            for (k = 0; k < ne; ++k)
                if (events[k] >= ESNN_MODEL_N_INPUTS)
                    die("event index out of range");
            esnn_step(&esnn_model, &st, events, ne);
            for (l = 0; l < esnn_model.n_layers; ++l) {
                const esnn_layer_t *L = &esnn_model.layers[l];
                memset(spiked, 0, L->n_out);
                for (k = 0; k < st.n_spikes[l]; ++k)
                    spiked[st.spikes[L->offset + k]] = 1;
                fwrite(st.v + L->offset, sizeof(int32_t), L->n_out, stdout);
                if (L->flags & ESNN_CUBA)
                    fwrite(st.i + L->offset, sizeof(int32_t), L->n_out, stdout);
                fwrite(spiked, 1, L->n_out, stdout);
                if (l + 1u == esnn_model.n_layers)
                    for (k = 0; k < L->n_out; ++k)
                        counts[k] = (uint16_t)(counts[k] + spiked[k]);
            }
        }
        pred = esnn_predict(&esnn_model, &st, counts);
        synops = st.synops;
        fwrite(&pred, sizeof pred, 1, stdout);
        fwrite(&synops, sizeof synops, 1, stdout);
        fwrite(&st.neuron_updates, sizeof st.neuron_updates, 1, stdout);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
