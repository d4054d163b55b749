/* Boards without a usable counter (DWT is not emulated by QEMU). */
#include "hal.h"

void hal_timer_init(void) {}
uint32_t hal_ticks(void) { return 0u; }
int hal_has_ticks(void) { return 0; }
