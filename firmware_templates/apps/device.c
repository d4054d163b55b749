/*
 * Device firmware: the model behind the serial protocol (docs/protocol.md). Polls the UART,
 * feeds bytes to the protocol, which answers through the UART. Same source on every board.
 */
#include "board_config.h"
#include "esnn_model.h"
#include "esnn_learn.h"
#include "esnn_proto.h"
#include "hal.h"

const esnn_store_t *hal_store(void);

#ifndef BOARD_TICKS_PER_INSTR_X10
#define BOARD_TICKS_PER_INSTR_X10 0u
#endif

static esnn_buffers_t buffers;
static esnn_state_t state;
static esnn_proto_t proto;
static uint8_t rx[ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME)];
static uint8_t frame[ESNN_PROTO_MAX_FRAME];
static uint8_t tx[ESNN_PROTO_MAX_FRAME];
static uint8_t tx_enc[ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME)];
static uint16_t events[ESNN_MODEL_N_INPUTS];
static uint16_t counts[ESNN_MODEL_N_OUTPUTS];
#if ESNN_MODEL_LEARN_LAYER >= 0
static int32_t x_pre[ESNN_MODEL_LEARN_N_IN];
static int32_t x_post[ESNN_MODEL_LEARN_N_OUT];
static esnn_learn_t learn;
#endif

ESNN_STATIC_ASSERT(frame_fits_u16, ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME) <= 65535u);

static void write_bytes(const uint8_t *data, uint16_t len)
{
    uint16_t i;
    for (i = 0; i < len; ++i)
        hal_putc((char)data[i]);
    hal_flush();
}

int device_main(void);

int device_main(void)
{
    hal_uart_init();
    hal_timer_init();
    esnn_bind(&state, &buffers);
    proto.model = &esnn_model;
    proto.state = &state;
    proto.board = BOARD_NAME;
    proto.capabilities = (uint16_t)((hal_has_ticks() ? ESNN_CAP_TICKS : 0u) |
                                    (BOARD_TICKS_PER_INSTR_X10 ? ESNN_CAP_ICOUNT : 0u));
#if ESNN_MODEL_LEARN_LAYER >= 0
    learn.layer = (uint16_t)ESNN_MODEL_LEARN_LAYER;
    learn.w = esnn_learn_rows;
    learn.x_pre = x_pre;
    learn.x_post = x_post;
    learn.label = ESNN_NO_LABEL;
    learn.cfg.mode = ESNN_LEARN_OFF;
    esnn_learn_reset(&esnn_model, &learn);
    proto.learn = &learn;
    proto.learning_handler = esnn_proto_learning;
    proto.learn_step = esnn_step_learn;
    proto.learn_reset = esnn_learn_reset;
    proto.store = hal_store();
    proto.capabilities = (uint16_t)(proto.capabilities | ESNN_CAP_LEARN |
                                    (proto.store != 0 && proto.store->slot_bytes ? ESNN_CAP_PERSIST : 0u));
    if (proto.store != 0) {
        uint32_t seq;
        (void)esnn_persist_load(&esnn_model, &learn, proto.store, &seq); /* last good weights, if any */
    }
#else
    proto.learn = 0;
    proto.learning_handler = 0;
    proto.learn_step = 0;
    proto.learn_reset = 0;
    proto.store = 0;
#endif
    proto.ticks_per_instr_x10 = BOARD_TICKS_PER_INSTR_X10;
    proto.write = write_bytes;
    proto.ticks = hal_has_ticks() ? hal_ticks : 0;
    proto.rx = rx;
    proto.frame = frame;
    proto.tx = tx;
    proto.tx_enc = tx_enc;
    proto.events = events;
    proto.counts = counts;
    proto.max_frame = ESNN_PROTO_MAX_FRAME;
    esnn_proto_init(&proto);
    for (;;) {
        int c = hal_getc();
        if (c >= 0) {
            uint8_t b = (uint8_t)c;
            esnn_proto_rx(&proto, &b, 1u);
        }
    }
}

#ifndef ESNN_NO_MAIN
int main(void)
{
    return device_main();
}
#endif
