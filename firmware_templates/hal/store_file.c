/*
 * Host board: the two weight slots live in a file (env ESNN_STORE; unset: no persistence).
 * ESNN_STORE_CUT_AFTER=N simulates a power cut: the process dies after N bytes were written,
 * in the middle of a slot write, so tests can check that the last good weights survive.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "esnn_proto.h"

#define SLOT_BYTES (1u << 20)

const esnn_store_t *hal_store(void);

static FILE *fp;
static long cut_after = -1, written;

static int seek(uint8_t slot, uint32_t offset, uint32_t n)
{
    if (fp == 0 || slot > 1u || offset > SLOT_BYTES || n > SLOT_BYTES - offset)
        return -1;
    return fseek(fp, (long)slot * (long)SLOT_BYTES + (long)offset, SEEK_SET);
}

static int file_read(uint8_t slot, uint32_t offset, uint8_t *dst, uint32_t n)
{
    size_t got;
    uint32_t i;
    if (seek(slot, offset, n) != 0)
        return -1;
    got = fread(dst, 1, n, fp);
    for (i = (uint32_t)got; i < n; ++i) /* never written: erased flash reads 0xff */
        dst[i] = 0xffu;
    clearerr(fp);
    return 0;
}

static int file_write(uint8_t slot, uint32_t offset, const uint8_t *src, uint32_t n)
{
    uint32_t i;
    if (seek(slot, offset, n) != 0)
        return -1;
    for (i = 0; i < n; ++i) {
        if (cut_after >= 0 && written >= cut_after) {
            fflush(fp);
            _exit(77); /* power cut */
        }
        if (fputc(src[i], fp) == EOF)
            return -1;
        ++written;
    }
    return fflush(fp) == 0 ? 0 : -1;
}

static esnn_store_t store = {SLOT_BYTES, file_read, file_write, 0};

const esnn_store_t *hal_store(void)
{
    const char *path = getenv("ESNN_STORE");
    const char *cut = getenv("ESNN_STORE_CUT_AFTER");
    if (path == 0 || *path == 0)
        return 0;
    if (fp == 0) {
        fp = fopen(path, "r+b");
        if (fp == 0)
            fp = fopen(path, "w+b");
        if (fp == 0)
            return 0;
        if (cut != 0)
            cut_after = strtol(cut, 0, 10);
    }
    return &store;
}
