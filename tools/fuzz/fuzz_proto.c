/*
 * libFuzzer harness for the device-side protocol decoder (firmware_templates/runtime/esnn_proto.c).
 * Any byte stream goes through esnn_proto_rx() against a small real model; ASan/UBSan catch
 * memory errors and undefined behaviour, and the harness checks that every reply the device
 * sends decodes as a valid frame within the advertised size.
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -I<model src> fuzz_proto.c esnn.c esnn_proto.c esnn_model.c
 *   ./fuzz_proto -max_total_time=60 corpus/
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esnn_model.h"
#include "esnn_proto.h"

static esnn_buffers_t buffers;
static esnn_state_t state;
static esnn_proto_t proto;
static uint8_t rx[ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME)];
static uint8_t frame[ESNN_PROTO_MAX_FRAME];
static uint8_t tx[ESNN_PROTO_MAX_FRAME];
static uint8_t tx_enc[ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME)];
static uint16_t events[ESNN_MODEL_N_INPUTS];
static uint16_t counts[ESNN_MODEL_N_OUTPUTS];
static uint8_t check[ESNN_PROTO_MAX_FRAME];
#if ESNN_MODEL_LEARN_LAYER >= 0
static int32_t x_pre[ESNN_MODEL_LEARN_N_IN];
static int32_t x_post[ESNN_MODEL_LEARN_N_OUT];
static esnn_learn_t learn;
#endif

static void on_reply(const uint8_t *data, uint16_t len)
{
    int32_t n;
    if (len < 2u || len > ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME) || data[len - 1u] != 0u)
        abort();
    n = esnn_cobs_decode(data, (uint16_t)(len - 1u), check, sizeof check);
    if (n < (int32_t)(ESNN_PROTO_HEADER + ESNN_PROTO_CRC))
        abort();
    if (esnn_crc16(check, (uint16_t)(n - 2)) != (uint16_t)(check[n - 2] | (check[n - 1] << 8)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        esnn_bind(&state, &buffers);
        proto.model = &esnn_model;
        proto.state = &state;
        proto.board = "fuzz";
        proto.write = on_reply;
        proto.rx = rx;
        proto.frame = frame;
        proto.tx = tx;
        proto.tx_enc = tx_enc;
        proto.events = events;
        proto.counts = counts;
        proto.max_frame = ESNN_PROTO_MAX_FRAME;
#if ESNN_MODEL_LEARN_LAYER >= 0 /* the learning messages are fuzzed too */
        learn.layer = (uint16_t)ESNN_MODEL_LEARN_LAYER;
        learn.w = esnn_learn_rows;
        learn.x_pre = x_pre;
        learn.x_post = x_post;
        learn.label = ESNN_NO_LABEL;
        proto.learn = &learn;
        proto.learning_handler = esnn_proto_learning;
        proto.learn_step = esnn_step_learn;
        proto.learn_reset = esnn_learn_reset;
#endif
        ready = 1;
    }
    esnn_proto_init(&proto);
    while (size > 0) {
        uint16_t n = size > 60000u ? 60000u : (uint16_t)size;
        esnn_proto_rx(&proto, data, n);
        data += n;
        size -= n;
    }
    return 0;
}
