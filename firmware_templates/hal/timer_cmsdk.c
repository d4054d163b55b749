/* CMSDK APB timer0: CTRL +0x00, VALUE +0x04 (counts down), RELOAD +0x08. Under QEMU with
 * `-icount shift=7` it advances exactly 3.2 ticks per executed instruction. */
#include "hal.h"
#include "board_config.h"

#define TIMER_CTRL HAL_REG(BOARD_TIMER_BASE + 0x00u)
#define TIMER_VALUE HAL_REG(BOARD_TIMER_BASE + 0x04u)
#define TIMER_RELOAD HAL_REG(BOARD_TIMER_BASE + 0x08u)

void hal_timer_init(void)
{
    TIMER_CTRL = 0u;
    TIMER_RELOAD = 0xffffffffu;
    TIMER_VALUE = 0xffffffffu;
    TIMER_CTRL = 1u;
}

uint32_t hal_ticks(void) { return 0xffffffffu - TIMER_VALUE; }
int hal_has_ticks(void) { return 1; }
