/* RP2040 (Raspberry Pi Pico) clocks, resets and UART0 pins, from the RP2040 datasheet
 * (build-date 2023-06, section numbers below).
 *
 * The boot ROM leaves the chip on the ring oscillator (about 6 MHz, imprecise). Here: the 12 MHz
 * crystal (XOSC, 2.16) feeds clk_ref; PLL_SYS (2.18) makes 125 MHz from it: REFDIV 1, FBDIV 125
 * (VCO 1500 MHz), POSTDIV1 6, POSTDIV2 2 (the SDK's default, within 2.18.2's limits);
 * clk_sys = PLL_SYS and clk_peri = clk_sys (2.15). UART0 on GP0 (TX) / GP1 (RX), function 2
 * (2.19.2). Registers have atomic aliases: +0x2000 sets bits, +0x3000 clears them (2.1.2).
 * Every wait is bounded: without a crystal the chip stays on the ring oscillator. */
#include "hal.h"
#include "board_config.h"

#define SET_ALIAS 0x2000u
#define CLR_ALIAS 0x3000u

#define RESETS_BASE 0x4000C000u /* 2.14 */
#define RESETS_RESET HAL_REG(RESETS_BASE + 0x0u)
#define RESETS_RESET_DONE HAL_REG(RESETS_BASE + 0x8u)
#define RESET_IO_BANK0 (1u << 5)
#define RESET_PADS_BANK0 (1u << 8)
#define RESET_PLL_SYS (1u << 12)
#define RESET_UART0 (1u << 22)

#define XOSC_BASE 0x40024000u /* 2.16.7 */
#define XOSC_CTRL HAL_REG(XOSC_BASE + 0x00u)
#define XOSC_STATUS HAL_REG(XOSC_BASE + 0x04u)
#define XOSC_STARTUP HAL_REG(XOSC_BASE + 0x0Cu)
#define XOSC_CTRL_1_15MHZ 0xAA0u
#define XOSC_CTRL_ENABLE (0xFABu << 12)
#define XOSC_STATUS_STABLE (1u << 31)
#define XOSC_STARTUP_1MS 47u /* ((12 MHz / 1000) + 128) / 256: 1 ms in units of 256 cycles (2.16.3) */

#define CLOCKS_BASE 0x40008000u /* 2.15.7 */
#define CLK_REF_CTRL (CLOCKS_BASE + 0x30u)
#define CLK_REF_DIV HAL_REG(CLOCKS_BASE + 0x34u)
#define CLK_REF_SELECTED HAL_REG(CLOCKS_BASE + 0x38u)
#define CLK_SYS_CTRL (CLOCKS_BASE + 0x3Cu)
#define CLK_SYS_DIV HAL_REG(CLOCKS_BASE + 0x40u)
#define CLK_SYS_SELECTED HAL_REG(CLOCKS_BASE + 0x44u)
#define CLK_PERI_CTRL HAL_REG(CLOCKS_BASE + 0x48u)
#define CLK_SYS_RESUS_CTRL HAL_REG(CLOCKS_BASE + 0x78u)
#define CLK_REF_SRC_XOSC 2u
#define CLK_SYS_SRC_AUX 1u
#define CLK_SYS_AUXSRC_MASK (7u << 5) /* 0: PLL_SYS */
#define CLK_PERI_ENABLE (1u << 11) /* AUXSRC 0: clk_sys */
#define DIV_BY_1 (1u << 8) /* integer part in bits 31:8 */

#define PLL_SYS_BASE 0x40028000u /* 2.18.4 */
#define PLL_CS HAL_REG(PLL_SYS_BASE + 0x0u)
#define PLL_PWR (PLL_SYS_BASE + 0x4u)
#define PLL_FBDIV_INT HAL_REG(PLL_SYS_BASE + 0x8u)
#define PLL_PRIM HAL_REG(PLL_SYS_BASE + 0xCu)
#define PLL_CS_LOCK (1u << 31)
#define PLL_PWR_PD (1u << 0)
#define PLL_PWR_POSTDIVPD (1u << 3)
#define PLL_PWR_VCOPD (1u << 5)

#define IO_BANK0_GPIO0_CTRL HAL_REG(0x40014004u) /* 2.19.6.1: GPIOn_CTRL at 0x004 + 8n */
#define IO_BANK0_GPIO1_CTRL HAL_REG(0x4001400Cu)
#define GPIO_FUNC_UART 2u

#define ROSC_HZ 6000000u
#define SYS_HZ 125000000u
#define WAIT_LOOPS 200000u

uint32_t hal_uart_clock_hz = ROSC_HZ;

static void set_bits(uint32_t addr, uint32_t bits) { HAL_REG(addr + SET_ALIAS) = bits; }
static void clear_bits(uint32_t addr, uint32_t bits) { HAL_REG(addr + CLR_ALIAS) = bits; }

static int wait_mask(uint32_t addr, uint32_t mask, uint32_t value)
{
    for (uint32_t n = 0; n < WAIT_LOOPS; n++)
        if ((HAL_REG(addr) & mask) == value)
            return 1;
    return 0;
}

static void unreset(uint32_t bits)
{
    clear_bits(RESETS_BASE, bits);
    (void)wait_mask(RESETS_BASE + 0x8u, bits, bits);
}

/* 1 when clk_sys runs from PLL_SYS at 125 MHz. */
static int clock_125mhz(void)
{
    CLK_SYS_RESUS_CTRL = 0u;
    XOSC_CTRL = XOSC_CTRL_1_15MHZ;
    XOSC_STARTUP = XOSC_STARTUP_1MS;
    set_bits(XOSC_BASE, XOSC_CTRL_ENABLE);
    if (!wait_mask(XOSC_BASE + 0x04u, XOSC_STATUS_STABLE, XOSC_STATUS_STABLE))
        return 0;
    /* glitchless muxes back to their primary sources before the PLL is touched (2.15.3.2) */
    clear_bits(CLK_SYS_CTRL, 1u);
    (void)wait_mask(CLOCKS_BASE + 0x44u, 1u, 1u);
    CLK_REF_DIV = DIV_BY_1;
    HAL_REG(CLK_REF_CTRL) = CLK_REF_SRC_XOSC;
    if (!wait_mask(CLOCKS_BASE + 0x38u, 1u << CLK_REF_SRC_XOSC, 1u << CLK_REF_SRC_XOSC))
        return 0;
    set_bits(RESETS_BASE, RESET_PLL_SYS);
    unreset(RESET_PLL_SYS);
    PLL_CS = 1u; /* REFDIV */
    PLL_FBDIV_INT = 125u;
    clear_bits(PLL_PWR, PLL_PWR_PD | PLL_PWR_VCOPD);
    if (!wait_mask(PLL_SYS_BASE, PLL_CS_LOCK, PLL_CS_LOCK))
        return 0;
    PLL_PRIM = (6u << 16) | (2u << 12);
    clear_bits(PLL_PWR, PLL_PWR_POSTDIVPD);
    CLK_SYS_DIV = DIV_BY_1;
    clear_bits(CLK_SYS_CTRL, CLK_SYS_AUXSRC_MASK); /* aux = PLL_SYS, switched while clk_sys = clk_ref */
    set_bits(CLK_SYS_CTRL, CLK_SYS_SRC_AUX);
    return wait_mask(CLOCKS_BASE + 0x44u, 1u << CLK_SYS_SRC_AUX, 1u << CLK_SYS_SRC_AUX);
}

void hal_board_init(void)
{
    int fast = clock_125mhz();
    CLK_PERI_CTRL = CLK_PERI_ENABLE;
    unreset(RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0);
    IO_BANK0_GPIO0_CTRL = GPIO_FUNC_UART;
    IO_BANK0_GPIO1_CTRL = GPIO_FUNC_UART;
    hal_uart_clock_hz = fast ? SYS_HZ : ROSC_HZ;
}
