/* nRF51 / nRF52 UART (the non-DMA UART, nRF51 RM 29, nRF52840 PS 6.33): tasks STARTRX +0x000,
 * STARTTX +0x008; events RXDRDY +0x108, TXDRDY +0x11C; ENABLE +0x500 (4), PSELTXD +0x50C,
 * PSELRXD +0x514, RXD +0x518 (behind a 6-byte FIFO), TXD +0x51C, BAUDRATE +0x524.
 * The nRF52's UARTE at the same address would need a DMA buffer for every byte; the plain UART
 * keeps one polled driver for both chips and its RX FIFO absorbs bytes that arrive mid-step. */
#include "hal.h"
#include "board_config.h"

#define UART_STARTRX HAL_REG(BOARD_UART_BASE + 0x000u)
#define UART_STARTTX HAL_REG(BOARD_UART_BASE + 0x008u)
#define UART_RXDRDY HAL_REG(BOARD_UART_BASE + 0x108u)
#define UART_TXDRDY HAL_REG(BOARD_UART_BASE + 0x11Cu)
#define UART_ENABLE HAL_REG(BOARD_UART_BASE + 0x500u)
#define UART_PSELTXD HAL_REG(BOARD_UART_BASE + 0x50Cu)
#define UART_PSELRXD HAL_REG(BOARD_UART_BASE + 0x514u)
#define UART_RXD HAL_REG(BOARD_UART_BASE + 0x518u)
#define UART_TXD HAL_REG(BOARD_UART_BASE + 0x51Cu)
#define UART_BAUDRATE HAL_REG(BOARD_UART_BASE + 0x524u)
#define GPIO_OUTSET HAL_REG(0x50000508u) /* P0 */
#define GPIO_DIRSET HAL_REG(0x50000518u)

/* BAUDRATE register values (nRF52840 PS 6.33.10.12; the same on nRF51) */
#if BOARD_UART_BAUD == 9600u
#define UART_BAUD_VALUE 0x00275000u
#elif BOARD_UART_BAUD == 57600u
#define UART_BAUD_VALUE 0x00EBF000u
#elif BOARD_UART_BAUD == 115200u
#define UART_BAUD_VALUE 0x01D7E000u
#elif BOARD_UART_BAUD == 230400u
#define UART_BAUD_VALUE 0x03AFB000u
#elif BOARD_UART_BAUD == 1000000u
#define UART_BAUD_VALUE 0x10000000u
#else
#error "uart_nrf5-uart.c: baud rate not in the BAUDRATE table"
#endif

void hal_uart_init(void)
{
#ifdef BOARD_UART_TX_PIN
    /* TXD idles high: drive it as an output before the UART takes the pin (PS 6.33.4) */
    GPIO_OUTSET = 1u << BOARD_UART_TX_PIN;
    GPIO_DIRSET = 1u << BOARD_UART_TX_PIN;
    UART_PSELTXD = BOARD_UART_TX_PIN;
    UART_PSELRXD = BOARD_UART_RX_PIN;
#endif
    UART_BAUDRATE = UART_BAUD_VALUE;
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

/* no receive-interrupt wake-up in this driver yet: the device loop polls (docs/energy.md, "Sleep") */
void hal_wait_input(void) {}
