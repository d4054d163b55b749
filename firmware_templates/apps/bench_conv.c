/*
 * Convolution benchmark firmware (tools/bench/conv.py): layer 0 of the model is a convolution,
 * timed with the board counter (QEMU -icount shift=7). It prints
 *   "E <k> <ticks of esnn_step_layer for layer 0 with k input events> <synaptic events>"
 *     for each activity level in bench_conv_data.h (k = 0 is a step without input);
 *   "N <ticks of CMSIS-NN's arm_convolve_s8 on the same layer, one dense int8 frame>"
 *     (built with -DESNN_BENCH_CMSIS and CMSIS-NN from the path the user gave);
 *   "C 200 <ticks of 200 nops>" (calibration), "T <ticks of two counter reads>", "END".
 */
#include "bench_conv_data.h"
#include "bench_end.h"
#include "board_config.h"
#include "esnn_model.h"
#include "hal.h"
#if defined(ESNN_BENCH_CMSIS)
#include "arm_nnfunctions.h"
#endif

static esnn_buffers_t buffers;
static esnn_state_t state;

static void report(char tag, uint32_t k, uint32_t ticks, uint32_t extra)
{
    hal_putc(tag);
    hal_putc(' ');
    hal_puthex(k, 8);
    hal_putc(' ');
    hal_puthex(ticks, 8);
    hal_putc(' ');
    hal_puthex(extra, 8);
    hal_putc('\n');
}

#if defined(ESNN_BENCH_CMSIS)
static int8_t frame_out[BENCH_OUT_H * BENCH_OUT_W * BENCH_OUT_C];
static int16_t scratch[BENCH_SCRATCH_BYTES / 2];

static uint32_t cmsis_frame(void)
{
    cmsis_nn_context ctx;
    cmsis_nn_conv_params cp;
    cmsis_nn_per_channel_quant_params qp;
    cmsis_nn_dims in_d = {1, BENCH_IN_H, BENCH_IN_W, BENCH_IN_C};
    cmsis_nn_dims f_d = {BENCH_OUT_C, BENCH_KH, BENCH_KW, BENCH_IN_C};
    cmsis_nn_dims b_d = {1, 1, 1, BENCH_OUT_C};
    cmsis_nn_dims up_d = {1, 1, 1, 1};
    cmsis_nn_dims o_d = {1, BENCH_OUT_H, BENCH_OUT_W, BENCH_OUT_C};
    uint32_t t0, t1;
    int32_t need = arm_convolve_s8_get_buffer_size(&in_d, &f_d);
    if (need > (int32_t)sizeof scratch) {
        hal_puts("ERROR scratch too small\n");
        return 0u;
    }
    ctx.buf = scratch;
    ctx.size = need;
    cp.input_offset = 0; /* spikes 0/1 as int8: no zero-point shift needed */
    cp.output_offset = 0;
    cp.stride.h = BENCH_SH;
    cp.stride.w = BENCH_SW;
    cp.padding.h = BENCH_PH;
    cp.padding.w = BENCH_PW;
    cp.dilation.h = 1;
    cp.dilation.w = 1;
    cp.activation.min = -128;
    cp.activation.max = 127;
    qp.multiplier = (int32_t *)bench_mult;
    qp.shift = (int32_t *)bench_shift;
    t0 = hal_ticks();
    (void)arm_convolve_s8(&ctx, &cp, &qp, &in_d, bench_frame, &f_d, bench_filter, &b_d, bench_bias, &up_d, &o_d,
                          frame_out);
    t1 = hal_ticks();
    return t1 - t0;
}
#endif

int main(void)
{
    uint32_t a, t0, t1, first = 0;
    hal_uart_init();
    hal_timer_init();
    esnn_bind(&state, &buffers);
    for (a = 0; a < BENCH_LEVELS; ++a) {
        uint16_t k = bench_counts[a];
        esnn_reset(&esnn_model, &state);
        t0 = hal_ticks();
        (void)esnn_step_layer(&esnn_model, &state, 0u, bench_events + first, k);
        t1 = hal_ticks();
        report('E', k, t1 - t0, state.synops);
        first += k;
    }
#if defined(ESNN_BENCH_CMSIS)
    report('N', 0u, cmsis_frame(), 0u);
#endif
    bench_end();
    return 0;
}
