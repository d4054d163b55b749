/* Text output over the board's UART, for the apps that report in lines (self-check, bench). */
#include "hal.h"

void hal_puts(const char *s)
{
    while (*s)
        hal_putc(*s++);
}

void hal_puthex(uint64_t v, unsigned digits)
{
    while (digits--)
        hal_putc("0123456789abcdef"[(v >> (4u * digits)) & 0xfu]);
}
