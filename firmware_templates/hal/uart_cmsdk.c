/* CMSDK APB UART (ARM MPS2): DATA +0x00, STATE +0x04 (bit0 TX full, bit1 RX full), CTRL +0x08
 * (bit0 TX, bit1 RX, bit3 RX interrupt enable), INTSTATUS/INTCLEAR +0x0C (bit1 RX). */
#include "hal.h"
#include "board_config.h"

#define UART_DATA HAL_REG(BOARD_UART_BASE + 0x00u)
#define UART_STATE HAL_REG(BOARD_UART_BASE + 0x04u)
#define UART_CTRL HAL_REG(BOARD_UART_BASE + 0x08u)
#define UART_INTCLEAR HAL_REG(BOARD_UART_BASE + 0x0Cu)
#define UART_BAUDDIV HAL_REG(BOARD_UART_BASE + 0x10u)
/* ARMv7-M NVIC: set-enable and clear-pending registers of IRQs 0-31 */
#define NVIC_ISER0 HAL_REG(0xE000E100u)
#define NVIC_ICPR0 HAL_REG(0xE000E280u)

void hal_uart_init(void)
{
    UART_BAUDDIV = hal_uart_clock_hz / BOARD_UART_BAUD >= 16u ? hal_uart_clock_hz / BOARD_UART_BAUD : 16u;
#ifdef BOARD_UART_RX_IRQ
    /* interrupts masked (PRIMASK): the RX interrupt only wakes the core from WFI, no handler runs */
    __asm__ volatile("cpsid i" ::: "memory");
    UART_CTRL = 3u | 8u; /* TX and RX enable, RX interrupt */
    NVIC_ISER0 = 1u << BOARD_UART_RX_IRQ;
#else
    UART_CTRL = 3u; /* TX and RX enable */
#endif
}

void hal_wait_input(void)
{
#ifdef BOARD_UART_RX_IRQ
    /* a byte that lands between the test and the WFI leaves the interrupt pending: WFI returns */
    if (!(UART_STATE & 2u))
        __asm__ volatile("wfi" ::: "memory");
    UART_INTCLEAR = 2u;
    NVIC_ICPR0 = 1u << BOARD_UART_RX_IRQ;
#endif
}

void hal_putc(char c)
{
    while (UART_STATE & 1u) {}
    UART_DATA = (uint8_t)c;
}

int hal_getc(void) { return (UART_STATE & 2u) ? (int)(UART_DATA & 0xffu) : -1; }

void hal_flush(void) {}
