/*
 * STM32F4 embedded flash interface: RM0390 (STM32F446) section 3 "Embedded Flash memory
 * interface"; the same block on STM32F405/407 (RM0090 section 3). Registers (3.8):
 * FLASH_ACR 0x00, FLASH_KEYR 0x04, FLASH_SR 0x0C, FLASH_CR 0x10 at 0x40023C00.
 * Unlock (3.6.1): KEY1 then KEY2 into KEYR. Sector erase (3.6.3): SER + SNB, then STRT, wait BSY.
 * Programming (3.6.4): PG with PSIZE = x32 (2.7-3.6 V supply), store the word, wait BSY.
 * Sectors of the 512 KB parts (3.3, table 5): 0-3 16 KB from 0x08000000, 4 64 KB at 0x08010000,
 * 5.. 128 KB from 0x08020000. The data cache is reset after each erase (3.5.2: a cached copy
 * of erased data would otherwise be read).
 */
#include <stdint.h>

#include "esnn_flash.h"

#define FLASH_BASE_ADDR 0x08000000u
#define FLASH_R_BASE 0x40023C00u
#define FLASH_ACR (*(volatile uint32_t *)(FLASH_R_BASE + 0x00u))
#define FLASH_KEYR (*(volatile uint32_t *)(FLASH_R_BASE + 0x04u))
#define FLASH_SR (*(volatile uint32_t *)(FLASH_R_BASE + 0x0Cu))
#define FLASH_CR (*(volatile uint32_t *)(FLASH_R_BASE + 0x10u))
#define FLASH_KEY1 0x45670123u
#define FLASH_KEY2 0xCDEF89ABu
#define CR_PG (1u << 0)
#define CR_SER (1u << 1)
#define CR_SNB_SHIFT 3u
#define CR_SNB_MASK (0xFu << CR_SNB_SHIFT)
#define CR_PSIZE_X32 (2u << 8)
#define CR_PSIZE_MASK (3u << 8)
#define CR_STRT (1u << 16)
#define CR_LOCK (1u << 31)
#define SR_BSY (1u << 16)
#define SR_ERRORS 0xF2u /* OPERR, WRPERR, PGAERR, PGPERR, PGSERR (write 1 to clear) */
#define ACR_DCEN (1u << 10)
#define ACR_DCRST (1u << 12)

static void wait_idle(void)
{
    while (FLASH_SR & SR_BSY) {}
}

static void unlock(void)
{
    if (FLASH_CR & CR_LOCK) {
        FLASH_KEYR = FLASH_KEY1;
        FLASH_KEYR = FLASH_KEY2;
    }
}

static int sector_of(uint32_t addr, uint32_t *sector)
{
    uint32_t off = addr - FLASH_BASE_ADDR;
    if (addr < FLASH_BASE_ADDR)
        return -1;
    if (off < 0x10000u) { /* four 16 KB sectors */
        if (off % 0x4000u)
            return -1;
        *sector = off / 0x4000u;
    } else if (off < 0x20000u) { /* one 64 KB sector */
        if (off != 0x10000u)
            return -1;
        *sector = 4u;
    } else { /* 128 KB sectors */
        if ((off - 0x20000u) % 0x20000u)
            return -1;
        *sector = 5u + (off - 0x20000u) / 0x20000u;
    }
    return *sector <= 11u ? 0 : -1;
}

static int finish(void)
{
    uint32_t sr;
    wait_idle();
    sr = FLASH_SR;
    FLASH_SR = SR_ERRORS; /* clear */
    FLASH_CR &= ~(CR_PG | CR_SER | CR_SNB_MASK);
    FLASH_CR |= CR_LOCK;
    return (sr & SR_ERRORS) ? -1 : 0;
}

int esnn_flash_erase(uint32_t page_addr)
{
    uint32_t sector;
    int rc;
    if (sector_of(page_addr, &sector) != 0)
        return -1;
    wait_idle();
    unlock();
    FLASH_SR = SR_ERRORS;
    FLASH_CR = (FLASH_CR & ~(CR_PSIZE_MASK | CR_SNB_MASK | CR_PG)) | CR_PSIZE_X32 | CR_SER | (sector << CR_SNB_SHIFT);
    FLASH_CR |= CR_STRT;
    rc = finish();
    if (FLASH_ACR & ACR_DCEN) { /* drop cached copies of the old contents */
        FLASH_ACR &= ~ACR_DCEN;
        FLASH_ACR |= ACR_DCRST;
        FLASH_ACR &= ~ACR_DCRST;
        FLASH_ACR |= ACR_DCEN;
    }
    return rc;
}

int esnn_flash_program(uint32_t addr, uint32_t word)
{
    if ((addr & 3u) != 0u || addr < FLASH_BASE_ADDR)
        return -1;
    wait_idle();
    unlock();
    FLASH_SR = SR_ERRORS;
    FLASH_CR = (FLASH_CR & ~(CR_PSIZE_MASK | CR_SER | CR_SNB_MASK)) | CR_PSIZE_X32 | CR_PG;
    *(volatile uint32_t *)addr = word;
    if (finish() != 0)
        return -1;
    return *(volatile const uint32_t *)addr == word ? 0 : -1;
}

void esnn_flash_read(uint32_t addr, uint8_t *dst, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; ++i)
        dst[i] = *(volatile const uint8_t *)(addr + i);
}
