/* SiFive FE310 UART: txdata +0x00 (bit31 full), rxdata +0x04 (bit31 empty), txctrl +0x08,
 * rxctrl +0x0C, div +0x18. */
#include "hal.h"
#include "board_config.h"

#define UART_TXDATA HAL_REG(BOARD_UART_BASE + 0x00u)
#define UART_RXDATA HAL_REG(BOARD_UART_BASE + 0x04u)
#define UART_TXCTRL HAL_REG(BOARD_UART_BASE + 0x08u)
#define UART_RXCTRL HAL_REG(BOARD_UART_BASE + 0x0Cu)
#define UART_DIV HAL_REG(BOARD_UART_BASE + 0x18u)

void hal_uart_init(void)
{
    /* baud = f_in / (div + 1), f_in the bus clock (FE310-G002 manual 18.9) */
    UART_DIV = (hal_uart_clock_hz + BOARD_UART_BAUD / 2u) / BOARD_UART_BAUD - 1u;
    UART_TXCTRL = 1u;
    UART_RXCTRL = 1u;
}

void hal_putc(char c)
{
    while (UART_TXDATA & 0x80000000u) {}
    UART_TXDATA = (uint8_t)c;
}

int hal_getc(void)
{
    uint32_t r = UART_RXDATA;
    return (r & 0x80000000u) ? -1 : (int)(r & 0xffu);
}

void hal_flush(void) {}

/* no receive-interrupt wake-up in this driver yet: the device loop polls (docs/energy.md, "Sleep") */
void hal_wait_input(void) {}
