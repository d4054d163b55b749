/*
 * Your own firmware loop around the generated model: read a sensor, turn readings into input
 * events, step the network, act on the prediction. Here the "sensor" is a stub that reads one
 * line of '0'/'1' characters per timestep from stdin (a real board would read an ADC, an IMU or
 * an event camera); a blank line ends a sample. Build (run.py does it):
 *   cc -std=c99 -O2 -Isrc main.c src/esnn.c src/esnn_model.c -o app
 */
#include <stdio.h>
#include <string.h>

#include "esnn_model.h"

static esnn_buffers_t buffers; /* all state in static RAM: no malloc */
static esnn_state_t state;
static uint16_t events[ESNN_MODEL_N_INPUTS];
static uint16_t counts[ESNN_MODEL_N_OUTPUTS];

/* The sensor stub: the indices of this timestep's active inputs; -1 at the end of a sample. */
static int read_sensor(uint16_t *ev)
{
    char line[ESNN_MODEL_N_INPUTS + 8];
    int n = 0;
    uint16_t k;
    if (fgets(line, sizeof line, stdin) == NULL || line[0] == '\n')
        return -1;
    for (k = 0; k < ESNN_MODEL_N_INPUTS && line[k] != '\0'; ++k)
        if (line[k] == '1')
            ev[n++] = k;
    return n;
}

int main(void)
{
    const esnn_layer_t *out = &esnn_model.layers[esnn_model.n_layers - 1u];
    unsigned sample = 0;
    esnn_bind(&state, &buffers);
    while (!feof(stdin)) {
        int n, steps = 0;
        uint16_t k;
        esnn_reset(&esnn_model, &state);
        memset(counts, 0, sizeof counts);
        while ((n = read_sensor(events)) >= 0) {
            esnn_step(&esnn_model, &state, events, (uint16_t)n);
            for (k = 0; k < state.n_spikes[esnn_model.n_layers - 1u]; ++k)
                counts[state.spikes[out->offset + k]]++;
            ++steps;
        }
        if (steps == 0)
            break;
        /* act on the result: here, print it */
        printf("sample %u prediction %u\n", sample++, (unsigned)esnn_predict(&esnn_model, &state, counts));
    }
    return 0;
}
