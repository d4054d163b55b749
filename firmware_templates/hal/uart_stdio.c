/* Host "UART": the process's stdin/stdout (a pty or pipe set to raw mode by the launcher).
 * End of input means the other side went away: the device process exits. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hal.h"

static unsigned char out_buf[4096];
static size_t out_len;

void hal_uart_init(void) {}

void hal_flush(void)
{
    size_t done = 0;
    while (done < out_len) {
        ssize_t w = write(1, out_buf + done, out_len - done);
        if (w <= 0)
            exit(0); /* peer gone */
        done += (size_t)w;
    }
    out_len = 0;
}

void hal_putc(char c)
{
    if (out_len == sizeof out_buf)
        hal_flush();
    out_buf[out_len++] = (unsigned char)c;
}

int hal_getc(void)
{
    unsigned char c;
    ssize_t r = read(0, &c, 1);
    if (r <= 0)
        exit(0); /* end of input: the host closed the link */
    return c;
}

void hal_exit(int code)
{
    hal_flush();
    exit(code);
}

/* no receive-interrupt wake-up in this driver yet: the device loop polls (docs/energy.md, "Sleep") */
void hal_wait_input(void) {}
