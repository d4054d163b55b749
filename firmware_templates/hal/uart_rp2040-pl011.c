/* RP2040 UART (ARM PL011, RP2040 datasheet 4.2.8): DR +0x00, FR +0x18 (RXFE bit4, TXFF bit5),
 * IBRD +0x24, FBRD +0x28, LCR_H +0x2C (WLEN bits 6:5, FEN bit4), CR +0x30 (UARTEN, TXE bit8,
 * RXE bit9). The 32-byte RX FIFO absorbs bytes that arrive while a step runs. */
#include "hal.h"
#include "board_config.h"

#define UART_DR HAL_REG(BOARD_UART_BASE + 0x00u)
#define UART_FR HAL_REG(BOARD_UART_BASE + 0x18u)
#define UART_IBRD HAL_REG(BOARD_UART_BASE + 0x24u)
#define UART_FBRD HAL_REG(BOARD_UART_BASE + 0x28u)
#define UART_LCR_H HAL_REG(BOARD_UART_BASE + 0x2Cu)
#define UART_CR HAL_REG(BOARD_UART_BASE + 0x30u)
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)

void hal_uart_init(void)
{
    /* divisor = clk_peri / (16 baud) in 16.6 fixed point, rounded (4.2.7.1) */
    uint32_t div = (8u * hal_uart_clock_hz) / BOARD_UART_BAUD;
    uint32_t ibrd = div >> 7, fbrd = ((div & 0x7Fu) + 1u) / 2u;
    if (ibrd == 0u) {
        ibrd = 1u;
        fbrd = 0u;
    }
    UART_CR = 0u;
    UART_IBRD = ibrd;
    UART_FBRD = fbrd;
    UART_LCR_H = (3u << 5) | (1u << 4); /* 8N1, FIFOs on; this write latches the divisors */
    UART_CR = (1u << 0) | (1u << 8) | (1u << 9);
}

void hal_putc(char c)
{
    while (UART_FR & FR_TXFF) {}
    UART_DR = (uint8_t)c;
}

int hal_getc(void) { return (UART_FR & FR_RXFE) ? -1 : (int)(UART_DR & 0xffu); }

void hal_flush(void)
{
    while (UART_FR & (1u << 3)) {} /* BUSY: the last byte has left the shifter */
}

/* no receive-interrupt wake-up in this driver yet: the device loop polls (docs/energy.md, "Sleep") */
void hal_wait_input(void) {}
