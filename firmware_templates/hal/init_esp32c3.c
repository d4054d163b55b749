/* ESP32-C3 start-up after the ROM boot loader, from the ESP32-C3 Technical Reference Manual
 * (v1.x, Espressif).
 *
 * The ROM loads this image's segments from flash offset 0 straight into internal SRAM and jumps
 * to its entry (TRM chapter 'Chip Boot Control' and chapter 'System and Memory', section
 * 'Internal Memory': SRAM1 is seen at 0x40380000 on the instruction bus and at 0x3FC80000 on
 * the data bus). Code is linked into IRAM from 0x40380000 and constants, data, state and stack
 * into DRAM from 0x3FCA0000 (physically after the code), ending below 0x3FCDC710, where the
 * ROM's own boot stack and data live while it loads the image (ESP-IDF's bootloader.ld for
 * the C3 documents that split).
 *
 * During a flash boot the ROM leaves three watchdogs running (TRM chapter 'Watchdog Timers',
 * sections 'Main System Watchdog Timers (MWDT)', 'RTC Watchdog Timer (RWDT)' and 'Super
 * Watchdog (SWD)'): a model that takes a second to load would be reset by them. Each sits
 * behind a write-protect key; MWDT and RWDT are switched off, the SWD cannot be, so it feeds
 * itself (RTC_CNTL_SWD_AUTO_FEED_EN).
 *
 * Registers (TRM 'Timer Group (TIMG)' and 'Low-power Management (RTC_CNTL)' register
 * summaries): TIMGn at 0x6001F000 / 0x60020000, TIMG_WDTCONFIG0 +0x48, TIMG_WDTWPROTECT +0x64;
 * RTC_CNTL at 0x60008000, RTC_CNTL_WDTCONFIG0 +0x90, RTC_CNTL_WDTWPROTECT +0xA8,
 * RTC_CNTL_SWD_CONF +0xAC (bit 31 auto-feed), RTC_CNTL_SWD_WPROTECT +0xB0.
 *
 * Clocks are left as the ROM set them: the CPU on the 40 MHz crystal. The USB Serial/JTAG
 * controller needs no baud rate or pins (uart_esp32c3-usb-serial-jtag.c). */
#include "hal.h"
#include "board_config.h"

#define TIMG0_BASE 0x6001F000u
#define TIMG1_BASE 0x60020000u
#define TIMG_WDTCONFIG0(base) HAL_REG((base) + 0x48u)
#define TIMG_WDTWPROTECT(base) HAL_REG((base) + 0x64u)
#define RTC_CNTL_WDTCONFIG0 HAL_REG(0x60008090u)
#define RTC_CNTL_WDTWPROTECT HAL_REG(0x600080A8u)
#define RTC_CNTL_SWD_CONF HAL_REG(0x600080ACu)
#define RTC_CNTL_SWD_WPROTECT HAL_REG(0x600080B0u)
#define WDT_WKEY 0x50D83AA1u /* TIMG_WDT_WKEY and RTC_CNTL_WDT_WKEY */
#define SWD_WKEY 0x8F1D312Au /* RTC_CNTL_SWD_WKEY */
#define SWD_AUTO_FEED_EN (1u << 31)

uint32_t hal_uart_clock_hz = BOARD_UART_CLOCK_HZ;

static void mwdt_off(uint32_t base)
{
    TIMG_WDTWPROTECT(base) = WDT_WKEY;
    TIMG_WDTCONFIG0(base) = 0u; /* TIMG_WDT_EN and every stage action cleared */
    TIMG_WDTWPROTECT(base) = 0u;
}

void hal_board_init(void)
{
    mwdt_off(TIMG0_BASE);
    mwdt_off(TIMG1_BASE);
    RTC_CNTL_WDTWPROTECT = WDT_WKEY;
    RTC_CNTL_WDTCONFIG0 = 0u;
    RTC_CNTL_WDTWPROTECT = 0u;
    RTC_CNTL_SWD_WPROTECT = SWD_WKEY;
    RTC_CNTL_SWD_CONF |= SWD_AUTO_FEED_EN;
    RTC_CNTL_SWD_WPROTECT = 0u;
    hal_uart_clock_hz = BOARD_UART_CLOCK_HZ;
}
