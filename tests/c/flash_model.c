/*
 * A model of page-erasable NOR flash for testing the weight store (hal/store_flash.c) on the
 * host. It enforces what real flash requires and aborts on any breach: erase whole pages at
 * page boundaries, program aligned 32-bit words, program a word only while it is erased
 * (0xffffffff) since the last erase. Every erase and every program is one step; with
 * flash_model_cut_at = N the N-th step is a power cut: that page or word is left holding
 * garbage and control jumps back to the harness (the device "resets").
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board_config.h"
#include "esnn_flash.h"
#include "flash_model.h"

uint8_t flash_model_mem[FLASH_MODEL_BYTES];
unsigned long flash_model_steps;
long flash_model_cut_at = -1;
jmp_buf flash_model_reset;
static unsigned long rng = 12345u;

static uint32_t noise(void)
{
    rng = rng * 6364136223846793005ul + 1442695040888963407ul;
    return (uint32_t)(rng >> 33);
}

static void breach(const char *what, uint32_t addr)
{
    fprintf(stderr, "flash rule broken: %s at 0x%08x\n", what, (unsigned)addr);
    abort();
}

static uint8_t *at(uint32_t addr, uint32_t n)
{
    if (addr < FLASH_MODEL_BASE || addr - FLASH_MODEL_BASE > FLASH_MODEL_BYTES ||
        n > FLASH_MODEL_BYTES - (addr - FLASH_MODEL_BASE))
        breach("access outside the flash", addr);
    return flash_model_mem + (addr - FLASH_MODEL_BASE);
}

static int power_cut_now(void)
{
    unsigned long step = flash_model_steps++;
    return flash_model_cut_at >= 0 && step == (unsigned long)flash_model_cut_at;
}

int esnn_flash_erase(uint32_t page_addr)
{
    uint8_t *p;
    uint32_t i;
    if ((page_addr - FLASH_MODEL_BASE) % BOARD_STORAGE_PAGE_BYTES != 0u)
        breach("erase not at a page boundary", page_addr);
    p = at(page_addr, BOARD_STORAGE_PAGE_BYTES);
    if (power_cut_now()) { /* an interrupted erase leaves the page in an undefined state */
        for (i = 0; i < BOARD_STORAGE_PAGE_BYTES; ++i)
            p[i] = (uint8_t)(p[i] | (uint8_t)noise());
        longjmp(flash_model_reset, 1);
    }
    memset(p, 0xff, BOARD_STORAGE_PAGE_BYTES);
    return 0;
}

int esnn_flash_program(uint32_t addr, uint32_t word)
{
    uint8_t *p;
    uint32_t old, w, k;
    if ((addr & 3u) != 0u)
        breach("program of an unaligned word", addr);
    p = at(addr, 4u);
    old = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    if (old != 0xffffffffu)
        breach("program of a word not erased since it was last programmed", addr);
    w = word;
    if (power_cut_now()) /* an interrupted program leaves some of the bits cleared */
        w = word | noise();
    for (k = 0; k < 4u; ++k)
        p[k] = (uint8_t)(w >> (8u * k));
    if (w != word)
        longjmp(flash_model_reset, 1);
    return 0;
}

void esnn_flash_read(uint32_t addr, uint8_t *dst, uint32_t n) { memcpy(dst, at(addr, n), n); }
