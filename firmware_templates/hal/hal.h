/* Board support used by the edgesnn apps: a UART, an optional cycle/instruction counter, exit. */
#ifndef ESNN_HAL_H
#define ESNN_HAL_H

#include <stdint.h>

/* Clocks, power, pins: before main (start-up code); sets hal_uart_clock_hz (init_<driver>.c). */
void hal_board_init(void);
/* The UART's input clock as configured by hal_board_init (Hz); drivers derive divisors from it. */
extern uint32_t hal_uart_clock_hz;
void hal_uart_init(void);
void hal_timer_init(void);
void hal_putc(char c);
/* A string, and v as `digits` lowercase hex digits (hal_text.c). */
void hal_puts(const char *s);
void hal_puthex(uint64_t v, unsigned digits);
/* Push buffered output out (hosted builds, USB FIFOs); a no-op on plain UARTs. */
void hal_flush(void);
/* Returns the next received byte, or -1 when none is waiting. */
int hal_getc(void);
/* Sleep until a byte may have arrived (WFI on the UART's receive interrupt, where the driver and
 * the board file's uart.rx_irq provide one); returns at once elsewhere, so callers poll again. */
void hal_wait_input(void);
/* Free-running tick counter and whether the board has one (0: hal_ticks always returns 0). */
uint32_t hal_ticks(void);
int hal_has_ticks(void);
/* Stop: semihosting exit under QEMU, otherwise spin. */
void hal_exit(int code);

#define HAL_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#endif
