/* ESP32-C3 USB Serial/JTAG controller as the serial link: the chip's own USB port appears to
 * the host as a CDC-ACM serial port (USB id 303a:1001), with no bridge chip, pins or baud rate
 * (ESP32-C3 TRM, chapter 'USB Serial/JTAG Controller (USB_SERIAL_JTAG)').
 *
 * Registers at 0x60043000 (the chapter's register summary): USB_SERIAL_JTAG_EP1_REG +0x00
 * reads and writes one byte of the CDC-ACM FIFOs; USB_SERIAL_JTAG_EP1_CONF_REG +0x04: bit 0
 * WR_DONE (send what is in the 64-byte IN FIFO), bit 1 SERIAL_IN_EP_DATA_FREE (room to write),
 * bit 2 SERIAL_OUT_EP_DATA_AVAIL (a received byte is waiting).
 *
 * When no host reads the port the IN FIFO never drains: the wait for room is bounded and a byte
 * that still finds none is dropped, so a closed port cannot stall the model. The protocol's
 * checksums and retransmission (docs/protocol.md) recover such a loss once a host listens. */
#include "hal.h"
#include "board_config.h"

#define USJ_EP1 HAL_REG(BOARD_UART_BASE + 0x00u)
#define USJ_EP1_CONF HAL_REG(BOARD_UART_BASE + 0x04u)
#define USJ_WR_DONE (1u << 0)
#define USJ_IN_FREE (1u << 1)
#define USJ_OUT_AVAIL (1u << 2)
/* about 10 ms at 40 MHz: several USB frames (1 ms each) for the host to empty the FIFO */
#define USJ_WAIT_LOOPS 100000u

void hal_uart_init(void) {}

void hal_putc(char c)
{
    uint32_t n = 0;
    while (!(USJ_EP1_CONF & USJ_IN_FREE)) {
        if (n == 0u)
            USJ_EP1_CONF = USJ_WR_DONE; /* a full FIFO is sent as soon as it is released */
        if (++n >= USJ_WAIT_LOOPS)
            return;
    }
    USJ_EP1 = (uint8_t)c;
}

int hal_getc(void)
{
    if (!(USJ_EP1_CONF & USJ_OUT_AVAIL))
        return -1;
    return (int)(USJ_EP1 & 0xffu);
}

void hal_flush(void) { USJ_EP1_CONF = USJ_WR_DONE; }

/* polls: the controller's receive interrupt is not wired up here (docs/energy.md, "Sleep") */
void hal_wait_input(void) {}
