/* Cortex-M start-up: vector table, .data copy, .bss zero, board clocks and pins, main, exit
 * (semihosting under QEMU; a real board without a debugger spins instead). */
#include <stdint.h>
#include "hal.h"
#include "board_config.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void reset_handler(void);

static void default_handler(void) { hal_exit(3); }

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_estack,
    reset_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    default_handler,
    0,
    0,
    0,
    0,
    default_handler,
    default_handler,
    0,
    default_handler,
    default_handler,
};

void reset_handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;)
        *dst++ = 0u;
    hal_board_init();
    hal_exit(main());
}

void hal_exit(int code)
{
#if BOARD_SEMIHOSTING
    /* ARM semihosting SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit; QEMU needs
     * -semihosting-config enable=on. The host stops reading at the app's END line anyway. */
    register uint32_t r0 __asm__("r0") = 0x18u;
    register uint32_t r1 __asm__("r1") = code == 0 ? 0x20026u : 0x20024u;
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
#else
    (void)code; /* a bkpt without a debugger would lock the core up (ARMv7-M ARM B1.5.15) */
#endif
    for (;;) {}
}
