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
    uint32_t timer_cost = 0;
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
    if (proto->ticks) {
        /* what two timer reads cost with no work between them: subtracted from every byte's
         * count below, so that link_ticks holds the device's work, not its measurement */
        uint32_t a = proto->ticks();
        timer_cost = proto->ticks() - a;
    }
    for (;;) {
        /* read before polling, so that a byte's count includes taking it from the UART */
        uint32_t t0 = proto->ticks ? proto->ticks() : 0u;
        int c = hal_getc();
        if (c >= 0) {
            esnn_proto_rx_byte(proto, (uint8_t)c);
            if (proto->ticks)
                proto->link_ticks += (uint32_t)(proto->ticks() - t0 - timer_cost);
        } else {
            hal_wait_input(); /* sleep (WFI) until the next byte, where the board can */
        }
    }
}

#ifndef ESNN_NO_MAIN
int main(void) { return device_main(); }
#endif
