/* STM32 USART (F4): SR +0x00 (TXE bit7, RXNE bit5), DR +0x04, BRR +0x08, CR1 +0x0C. */
#include "hal.h"
#include "board_config.h"

#define USART_SR HAL_REG(BOARD_UART_BASE + 0x00u)
#define USART_DR HAL_REG(BOARD_UART_BASE + 0x04u)
#define USART_BRR HAL_REG(BOARD_UART_BASE + 0x08u)
#define USART_CR1 HAL_REG(BOARD_UART_BASE + 0x0Cu)

void hal_uart_init(void)
{
    /* oversampling by 16: BRR = f_ck / baud, rounded (RM0390 25.4.4) */
    USART_BRR = (hal_uart_clock_hz + BOARD_UART_BAUD / 2u) / BOARD_UART_BAUD;
    USART_CR1 = (1u << 13) | (1u << 3) | (1u << 2); /* UE, TE, RE */
}

void hal_putc(char c)
{
    while (!(USART_SR & (1u << 7))) {}
    USART_DR = (uint8_t)c;
}

int hal_getc(void) { return (USART_SR & (1u << 5)) ? (int)(USART_DR & 0xffu) : -1; }

void hal_flush(void) {}

/* no receive-interrupt wake-up in this driver yet: the device loop polls (docs/energy.md, "Sleep") */
void hal_wait_input(void) {}
