/* FE310-G002 (HiFive1 Rev B) clocks and UART0 pins, from the FE310-G002 manual v1p1.
 *
 * The core runs from the board's 16 MHz crystal (HFXOSC) with the PLL bypassed (manual 6.3-6.5):
 * slower than the 320 MHz PLL setting, but it needs no change to the SPI flash clock divider,
 * which a faster core would (the image runs in place from that flash). The UART divisor follows
 * from the 16 MHz bus clock (manual 18.9: baud = f_in / (div + 1)).
 *
 * PRCI at 0x10008000: hfxosccfg +0x04 (bit30 enable, bit31 ready), pllcfg +0x08 (pllsel bit16,
 * pllrefsel bit17, pllbypass bit18), plloutdiv +0x0C (divby1 bit8). GPIO at 0x10012000:
 * iof_en +0x38, iof_sel +0x3C; UART0 RX/TX are GPIO 16/17 on IOF0 (manual 17.9, Table 52). */
#include "hal.h"
#include "board_config.h"

#define PRCI_HFXOSCCFG HAL_REG(0x10008004u)
#define PRCI_PLLCFG HAL_REG(0x10008008u)
#define PRCI_PLLOUTDIV HAL_REG(0x1000800Cu)
#define HFXOSC_EN (1u << 30)
#define HFXOSC_RDY (1u << 31)
#define PLL_SEL (1u << 16)
#define PLL_REFSEL (1u << 17)
#define PLL_BYPASS (1u << 18)
#define PLLOUT_DIVBY1 (1u << 8)
#define GPIO_IOF_EN HAL_REG(0x10012038u)
#define GPIO_IOF_SEL HAL_REG(0x1001203Cu)
#define UART0_PINS ((1u << 16) | (1u << 17))
#define HFXOSC_HZ 16000000u
#define WAIT_LOOPS 200000u

uint32_t hal_uart_clock_hz = HFXOSC_HZ;

void hal_board_init(void)
{
    PRCI_HFXOSCCFG = HFXOSC_EN;
    uint32_t n = 0;
    while (!(PRCI_HFXOSCCFG & HFXOSC_RDY) && ++n < WAIT_LOOPS) {}
    if (PRCI_HFXOSCCFG & HFXOSC_RDY) {
        /* reference = HFXOSC, PLL bypassed, PLL output selected: the core clock is the crystal */
        PRCI_PLLCFG = PLL_REFSEL | PLL_BYPASS;
        PRCI_PLLOUTDIV = PLLOUT_DIVBY1;
        PRCI_PLLCFG = PLL_REFSEL | PLL_BYPASS | PLL_SEL;
        hal_uart_clock_hz = HFXOSC_HZ;
    } else {
        hal_uart_clock_hz = 13800000u; /* stays on the reset HFROSC: about 13.8 MHz (manual 6.2) */
    }
    GPIO_IOF_SEL &= ~UART0_PINS;
    GPIO_IOF_EN |= UART0_PINS;
}
