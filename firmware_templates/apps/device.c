/*
 * Device firmware: the model behind the serial protocol (docs/protocol.md). Polls the UART,
 * feeds bytes to the protocol, which answers through the UART. Same source on every board.
 */
#include "board_config.h"
#include "device_link.h"
#include "hal.h"

const esnn_store_t *hal_store(void);

#ifndef BOARD_TICKS_PER_INSTR_X10
#define BOARD_TICKS_PER_INSTR_X10 0u
#endif

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
    esnn_proto_t *proto;
    hal_uart_init();
    hal_timer_init();
    proto = device_link_setup(BOARD_NAME, write_bytes);
    if (hal_has_ticks()) {
        proto->ticks = hal_ticks;
        proto->capabilities = (uint16_t)(proto->capabilities | ESNN_CAP_TICKS);
    }
    if (BOARD_TICKS_PER_INSTR_X10) {
        proto->ticks_per_instr_x10 = BOARD_TICKS_PER_INSTR_X10;
        proto->capabilities = (uint16_t)(proto->capabilities | ESNN_CAP_ICOUNT);
    }
#if ESNN_MODEL_LEARN_LAYER >= 0
    proto->store = hal_store();
    if (proto->store != 0 && proto->store->slot_bytes) {
        uint32_t seq;
        proto->capabilities = (uint16_t)(proto->capabilities | ESNN_CAP_PERSIST);
        (void)esnn_persist_load(&esnn_model, proto->learn, proto->store, &seq); /* last good weights, if any */
    }
#endif
    for (;;) {
        int c = hal_getc();
        if (c >= 0) {
            uint8_t b = (uint8_t)c;
            esnn_proto_rx(proto, &b, 1u);
        }
    }
}

#ifndef ESNN_NO_MAIN
int main(void) { return device_main(); }
#endif
