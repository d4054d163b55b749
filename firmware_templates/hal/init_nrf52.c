/* nRF52840 clocks: start the 32 MHz crystal (HFXO) so that the UART's baud rate has crystal
 * accuracy; the internal HFINT drifts by up to 1.5 % (nRF52840 PS 5.4.2, 6.4.2). CLOCK at
 * 0x40000000: TASKS_HFCLKSTART +0x000, EVENTS_HFCLKSTARTED +0x100 (PS 5.4.4). The CPU runs at
 * 64 MHz either way; the UART divides a fixed 16 MHz clock by its BAUDRATE register value. */
#include "hal.h"
#include "board_config.h"

#define CLOCK_TASKS_HFCLKSTART HAL_REG(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED HAL_REG(0x40000100u)
#define WAIT_LOOPS 200000u /* the crystal starts in about 0.4 ms (PS 8.3, t_START,HFXO) */

uint32_t hal_uart_clock_hz = 16000000u;

void hal_board_init(void)
{
    CLOCK_EVENTS_HFCLKSTARTED = 0u;
    CLOCK_TASKS_HFCLKSTART = 1u;
    for (uint32_t n = 0; n < WAIT_LOOPS && !CLOCK_EVENTS_HFCLKSTARTED; n++) {}
}
