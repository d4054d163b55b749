/* STM32F446 (Nucleo-F446RE) clocks, power and UART pins, from RM0390 rev 6.
 *
 * SYSCLK 180 MHz from the 16 MHz HSI through the main PLL (M=8: 2 MHz PLL input, N=180: VCO
 * 360 MHz, P=2), regulator scale 1 with over-drive (RM0390 5.1.4, "Entering Over-drive mode"),
 * five flash wait states (RM0390 3.4.1, Table 5: 150 < HCLK <= 180 MHz at 2.7-3.6 V), APB1 /4 =
 * 45 MHz and APB2 /2 = 90 MHz (their limits, RM0390 6.2). The HSI is used, not the ST-LINK's
 * 8 MHz MCO, because not every Nucleo revision routes MCO to PH0 (UM1724, solder bridge SB50).
 *
 * Every ready-flag wait is bounded: if a flag never comes (QEMU's STM32F405 leaves RCC and PWR
 * unimplemented, so they read as 0) the chip stays on the HSI at 16 MHz, and hal_uart_clock_hz
 * says so, so the baud rate stays right either way.
 *
 * UART: USART2 on PA2 (TX) / PA3 (RX), AF7: the ST-LINK virtual COM port (UM1724 6.8); the
 * board variant for QEMU uses USART1 on PA9 / PA10, AF7 (STM32F446 datasheet, Table 11). */
#include "hal.h"
#include "board_config.h"

#define RCC_BASE 0x40023800u /* RM0390 2.2.2, memory map */
#define RCC_CR HAL_REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR HAL_REG(RCC_BASE + 0x04u)
#define RCC_CFGR HAL_REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR HAL_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR HAL_REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR HAL_REG(RCC_BASE + 0x44u)
#define RCC_CR_HSIRDY (1u << 1)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_APB1ENR_USART2EN (1u << 17)
#define RCC_APB1ENR_PWREN (1u << 28)
#define RCC_APB2ENR_USART1EN (1u << 4)
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_CFGR_PPRE1_DIV4 (5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (4u << 13)

#define PWR_BASE 0x40007000u
#define PWR_CR HAL_REG(PWR_BASE + 0x00u)
#define PWR_CSR HAL_REG(PWR_BASE + 0x04u)
#define PWR_CR_VOS_SCALE1 (3u << 14)
#define PWR_CR_ODEN (1u << 16)
#define PWR_CR_ODSWEN (1u << 17)
#define PWR_CSR_ODRDY (1u << 16)
#define PWR_CSR_ODSWRDY (1u << 17)

#define FLASH_ACR HAL_REG(0x40023C00u)
#define FLASH_ACR_5WS_CACHES (5u | (1u << 8) | (1u << 9) | (1u << 10)) /* LATENCY=5, PRFTEN, ICEN, DCEN */

#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER HAL_REG(GPIOA_BASE + 0x00u)
#define GPIOA_OSPEEDR HAL_REG(GPIOA_BASE + 0x08u)
#define GPIOA_PUPDR HAL_REG(GPIOA_BASE + 0x0Cu)
#define GPIOA_AFRL HAL_REG(GPIOA_BASE + 0x20u)
#define GPIOA_AFRH HAL_REG(GPIOA_BASE + 0x24u)

#define PLL_M 8u
#define PLL_N 180u
#define PLL_Q 8u /* 45 MHz; unused (USB would need 48), but 2..15 is required */
#define PLL_R 2u /* F446's PLLR, 2..7; unused */
#define HSI_HZ 16000000u
#define SYSCLK_HZ 180000000u
#define WAIT_LOOPS 100000u /* > 10 ms at 16 MHz; PLL lock takes about 0.1 ms */

uint32_t hal_uart_clock_hz = HSI_HZ;

static int wait_set(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
    for (uint32_t n = 0; n < WAIT_LOOPS; n++)
        if ((*reg & mask) == value)
            return 1;
    return 0;
}

/* 1 when the chip runs from the PLL at 180 MHz, 0 when it stayed on the HSI. */
static int clock_180mhz(void)
{
    if (!wait_set(&RCC_CR, RCC_CR_HSIRDY, RCC_CR_HSIRDY))
        return 0;
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    /* read back: the clock starts two cycles after the enable (errata ES0298, "Delay after an
     * RCC peripheral clock enabling") */
    (void)RCC_APB1ENR;
    PWR_CR = PWR_CR | PWR_CR_VOS_SCALE1; /* VOS is written while the PLL is off */
    RCC_PLLCFGR = PLL_M | (PLL_N << 6) | (0u << 16) /* P=2 */ | (0u << 22) /* HSI */ | (PLL_Q << 24) | (PLL_R << 28);
    RCC_CR |= RCC_CR_PLLON;
    PWR_CR |= PWR_CR_ODEN;
    if (!wait_set(&PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY))
        return 0;
    PWR_CR |= PWR_CR_ODSWEN;
    if (!wait_set(&PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY))
        return 0;
    FLASH_ACR = FLASH_ACR_5WS_CACHES;
    if ((FLASH_ACR & 0xFu) != 5u) /* RM0390 3.5.1: check the latency took before raising HCLK */
        return 0;
    RCC_CFGR = RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2;
    if (!wait_set(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY))
        return 0;
    RCC_CFGR = RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2 | RCC_CFGR_SW_PLL;
    return wait_set(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL);
}

void hal_board_init(void)
{
    int fast = clock_180mhz();
    if (!fast)
        RCC_CFGR = 0u; /* HSI, no prescalers: every bus at 16 MHz */
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    (void)RCC_AHB1ENR;
#if defined(BOARD_UART_USART1)
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    /* PA9, PA10: alternate function (MODER 10), high speed, pull-up on RX, AF7 (AFRH) */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 18) | (3u << 20))) | (2u << 18) | (2u << 20);
    GPIOA_OSPEEDR |= (2u << 18) | (2u << 20);
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(3u << 20)) | (1u << 20);
    GPIOA_AFRH = (GPIOA_AFRH & ~((0xFu << 4) | (0xFu << 8))) | (7u << 4) | (7u << 8);
    hal_uart_clock_hz = fast ? SYSCLK_HZ / 2u : HSI_HZ; /* APB2 */
#elif defined(BOARD_UART_USART2)
    RCC_APB1ENR |= RCC_APB1ENR_USART2EN;
    /* PA2, PA3: alternate function, high speed, pull-up on RX, AF7 (AFRL) */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 4) | (3u << 6))) | (2u << 4) | (2u << 6);
    GPIOA_OSPEEDR |= (2u << 4) | (2u << 6);
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(3u << 6)) | (1u << 6);
    GPIOA_AFRL = (GPIOA_AFRL & ~((0xFu << 8) | (0xFu << 12))) | (7u << 8) | (7u << 12);
    hal_uart_clock_hz = fast ? SYSCLK_HZ / 4u : HSI_HZ; /* APB1 */
#else
#error "init_stm32f446.c: set uart.instance to usart1 or usart2 in the board file"
#endif
}
