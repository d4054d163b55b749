/*
 * nRF51/nRF52 NVMC (Non-Volatile Memory Controller): nRF52840 Product Specification v1.7,
 * section 4.3 "NVMC"; nRF51 Series Reference Manual v3.0, chapter 6 "NVMC". Same registers on
 * both: CONFIG selects read-only / write / erase, ERASEPAGE erases the page whose address is
 * written, READY reads 1 when the controller is idle. Pages: 1 KB (nRF51), 4 KB (nRF52).
 * Flash is memory-mapped for reads. A word is written by a plain store while CONFIG = WEN.
 */
#include <stdint.h>

#include "esnn_flash.h"

#define NVMC_BASE 0x4001E000u
#define NVMC_READY (*(volatile uint32_t *)(NVMC_BASE + 0x400u)) /* bit 0: ready */
#define NVMC_CONFIG (*(volatile uint32_t *)(NVMC_BASE + 0x504u)) /* 0 REN, 1 WEN, 2 EEN */
#define NVMC_ERASEPAGE (*(volatile uint32_t *)(NVMC_BASE + 0x508u)) /* address of the page */
#define NVMC_CONFIG_REN 0u
#define NVMC_CONFIG_WEN 1u
#define NVMC_CONFIG_EEN 2u

static void wait_ready(void)
{
    while ((NVMC_READY & 1u) == 0u) {}
}

int esnn_flash_erase(uint32_t page_addr)
{
    wait_ready();
    NVMC_CONFIG = NVMC_CONFIG_EEN;
    wait_ready();
    NVMC_ERASEPAGE = page_addr;
    wait_ready();
    NVMC_CONFIG = NVMC_CONFIG_REN;
    wait_ready();
    return 0;
}

int esnn_flash_program(uint32_t addr, uint32_t word)
{
    if ((addr & 3u) != 0u)
        return -1;
    wait_ready();
    NVMC_CONFIG = NVMC_CONFIG_WEN;
    wait_ready();
    *(volatile uint32_t *)addr = word;
    wait_ready();
    NVMC_CONFIG = NVMC_CONFIG_REN;
    wait_ready();
    return *(volatile const uint32_t *)addr == word ? 0 : -1;
}

void esnn_flash_read(uint32_t addr, uint8_t *dst, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; ++i)
        dst[i] = *(volatile const uint8_t *)(addr + i);
}
