/*
 * The two weight slots (esnn_persist.c) in page-erasable flash: slot s occupies
 * BOARD_STORAGE_SLOT_BYTES from BOARD_STORAGE_SLOT<s>, a whole number of BOARD_STORAGE_PAGE_BYTES
 * pages, outside the image (the board file's flash size stops below them). SAVE erases the
 * target slot first (erased flash reads 0xff: no valid header), then programs the weights and
 * last the header, each word once, so a power cut at any step leaves the other slot in force.
 */
#include "board_config.h"
#include "esnn_flash.h"
#include "esnn_proto.h"

const esnn_store_t *hal_store(void);

#if (BOARD_STORAGE_SLOT_BYTES % BOARD_STORAGE_PAGE_BYTES) != 0 || (BOARD_STORAGE_SLOT0 % 4u) != 0 || \
    (BOARD_STORAGE_SLOT1 % 4u) != 0
#error "storage slots must be whole, aligned pages"
#endif

static uint32_t slot_base(uint8_t slot)
{
    return slot == 0u ? (uint32_t)BOARD_STORAGE_SLOT0 : (uint32_t)BOARD_STORAGE_SLOT1;
}

static int in_slot(uint8_t slot, uint32_t offset, uint32_t n)
{
    return slot <= 1u && offset <= BOARD_STORAGE_SLOT_BYTES && n <= BOARD_STORAGE_SLOT_BYTES - offset;
}

static int flash_store_read(uint8_t slot, uint32_t offset, uint8_t *dst, uint32_t n)
{
    if (!in_slot(slot, offset, n))
        return -1;
    esnn_flash_read(slot_base(slot) + offset, dst, n);
    return 0;
}

/* Whole words from an aligned offset; a last partial word is padded with 0xff (left erased). */
static int flash_store_write(uint8_t slot, uint32_t offset, const uint8_t *src, uint32_t n)
{
    uint32_t i;
    if (!in_slot(slot, offset, n) || (offset & 3u) != 0u)
        return -1;
    for (i = 0; i < n; i += 4u) {
        uint32_t word = 0xffffffffu, k;
        for (k = 0; k < 4u && i + k < n; ++k)
            word = (word & ~(0xffu << (8u * k))) | ((uint32_t)src[i + k] << (8u * k));
        if (esnn_flash_program(slot_base(slot) + offset + i, word) != 0)
            return -1;
    }
    return 0;
}

static int flash_store_erase(uint8_t slot)
{
    uint32_t a;
    if (slot > 1u)
        return -1;
    for (a = 0; a < BOARD_STORAGE_SLOT_BYTES; a += BOARD_STORAGE_PAGE_BYTES)
        if (esnn_flash_erase(slot_base(slot) + a) != 0)
            return -1;
    return 0;
}

static const esnn_store_t store = {BOARD_STORAGE_SLOT_BYTES, flash_store_read, flash_store_write, flash_store_erase};

const esnn_store_t *hal_store(void) { return &store; }
