/*
 * Device firmware: the model behind the serial protocol (docs/protocol.md). Polls the UART,
 * feeds bytes to the protocol, which answers through the UART. Same source on every board.
 */
#include "board_config.h"
#include "esnn_model.h"
#include "esnn_proto.h"
#include "hal.h"

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
