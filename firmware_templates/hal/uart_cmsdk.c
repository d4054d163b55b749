/* CMSDK APB UART (ARM MPS2): DATA +0x00, STATE +0x04 (bit0 TX full, bit1 RX full), CTRL +0x08. */
#include "hal.h"
#include "board_config.h"

#define UART_DATA HAL_REG(BOARD_UART_BASE + 0x00u)
#define UART_STATE HAL_REG(BOARD_UART_BASE + 0x04u)
#define UART_CTRL HAL_REG(BOARD_UART_BASE + 0x08u)
#define UART_BAUDDIV HAL_REG(BOARD_UART_BASE + 0x10u)

void hal_uart_init(void)
{
    UART_BAUDDIV = hal_uart_clock_hz / BOARD_UART_BAUD >= 16u ? hal_uart_clock_hz / BOARD_UART_BAUD : 16u;
    UART_CTRL = 3u; /* TX and RX enable */
}

void hal_putc(char c)
{
    while (UART_STATE & 1u) {}
    UART_DATA = (uint8_t)c;
}

int hal_getc(void) { return (UART_STATE & 2u) ? (int)(UART_DATA & 0xffu) : -1; }

void hal_flush(void) {}
