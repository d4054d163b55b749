/*
 * Audio front end benchmark firmware (tools/bench/audio.py): the front end of bench_afe_data.h
 * over its samples, timed with the board counter (QEMU -icount shift=7). It prints
 *   "A <samples> <ticks of esnn_afe_push over them>" for each block of BENCH_AFE_BLOCK samples,
 *   "S <timestep> <spikes, one hex byte per 8 channels>" for every timestep it produced,
 * then the calibration lines of bench_end.h.
 */
#include "bench_afe_data.h"
#include "bench_end.h"
#include "board_config.h"
#include "esnn_audio.h"
#include "hal.h"

static esnn_afe_state_t afe_state;
static uint8_t spikes[(BENCH_AFE_BLOCK / BENCH_AFE_D + 1u) * ((BENCH_AFE_CHANNELS + 7u) / 8u)];

int main(void)
{
    const uint32_t bytes = (BENCH_AFE_CHANNELS + 7u) / 8u;
    uint32_t done = 0, step = 0, t0, t1, s, k;
    hal_uart_init();
    hal_timer_init();
    esnn_afe_reset(&afe_state);
    while (done + BENCH_AFE_BLOCK <= BENCH_AFE_SAMPLES) {
        uint32_t steps;
        t0 = hal_ticks();
        steps = esnn_afe_push(&bench_afe, &afe_state, bench_afe_pcm + done, BENCH_AFE_BLOCK, spikes,
                              BENCH_AFE_BLOCK / BENCH_AFE_D + 1u);
        t1 = hal_ticks();
        hal_puts("A ");
        hal_puthex(BENCH_AFE_BLOCK, 8);
        hal_putc(' ');
        hal_puthex(t1 - t0, 8);
        hal_putc('\n');
        for (s = 0; s < steps; ++s, ++step) {
            hal_puts("S ");
            hal_puthex(step, 8);
            hal_putc(' ');
            for (k = 0; k < bytes; ++k)
                hal_puthex(spikes[s * bytes + k], 2);
            hal_putc('\n');
        }
        done += BENCH_AFE_BLOCK;
    }
    bench_end();
    return 0;
}
