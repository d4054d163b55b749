/* nRF51 TIMER0 (nRF51 RM 19): TASKS_START +0x000, TASKS_CAPTURE[0] +0x040, MODE +0x504 (0:
 * timer), BITMODE +0x508 (3: 32 bit), PRESCALER +0x510 (0: 16 MHz), CC[0] +0x540. QEMU clocks it
 * from its virtual clock, so under `-icount shift=7` (128 ns per instruction) it advances
 * 2.048 ticks per executed instruction. */
#include "hal.h"
#include "board_config.h"

#define TIMER_START HAL_REG(BOARD_TIMER_BASE + 0x000u)
#define TIMER_CAPTURE0 HAL_REG(BOARD_TIMER_BASE + 0x040u)
#define TIMER_MODE HAL_REG(BOARD_TIMER_BASE + 0x504u)
#define TIMER_BITMODE HAL_REG(BOARD_TIMER_BASE + 0x508u)
#define TIMER_PRESCALER HAL_REG(BOARD_TIMER_BASE + 0x510u)
#define TIMER_CC0 HAL_REG(BOARD_TIMER_BASE + 0x540u)

void hal_timer_init(void)
{
    TIMER_MODE = 0u;
    TIMER_BITMODE = 3u;
    TIMER_PRESCALER = 0u;
    TIMER_START = 1u;
}

uint32_t hal_ticks(void)
{
    TIMER_CAPTURE0 = 1u;
    return TIMER_CC0;
}

int hal_has_ticks(void) { return 1; }
