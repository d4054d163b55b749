/* nRF51 UART: tasks STARTRX +0x000, STARTTX +0x008; events RXDRDY +0x108, TXDRDY +0x11C;
 * ENABLE +0x500 (4), RXD +0x518, TXD +0x51C, BAUDRATE +0x524. */
#include "hal.h"
#include "board_config.h"

#define UART_STARTRX HAL_REG(BOARD_UART_BASE + 0x000u)
#define UART_STARTTX HAL_REG(BOARD_UART_BASE + 0x008u)
#define UART_RXDRDY HAL_REG(BOARD_UART_BASE + 0x108u)
#define UART_TXDRDY HAL_REG(BOARD_UART_BASE + 0x11Cu)
#define UART_ENABLE HAL_REG(BOARD_UART_BASE + 0x500u)
#define UART_RXD HAL_REG(BOARD_UART_BASE + 0x518u)
#define UART_TXD HAL_REG(BOARD_UART_BASE + 0x51Cu)
#define UART_BAUDRATE HAL_REG(BOARD_UART_BASE + 0x524u)

void hal_uart_init(void)
{
    UART_BAUDRATE = 0x01D7E000u; /* 115200 */
    UART_ENABLE = 4u;
    UART_STARTTX = 1u;
    UART_STARTRX = 1u;
}

void hal_putc(char c)
{
    UART_TXDRDY = 0u;
    UART_TXD = (uint8_t)c;
    while (!UART_TXDRDY) {}
}

int hal_getc(void)
{
    if (!UART_RXDRDY)
        return -1;
    UART_RXDRDY = 0u;
    return (int)(UART_RXD & 0xffu);
}

void hal_flush(void) {}
