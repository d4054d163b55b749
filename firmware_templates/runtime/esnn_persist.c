/*
 * Two-slot persistence of learned weights. Slot: header (u32 magic "ESNW", u32 seq, u32 count,
 * u32 crc32 of the weights, u32 model hash32), then count int8 weights (j-major). Saving goes to
 * the slot that does not hold the newest valid copy: invalidate it (flash: erase it; a file:
 * zero its header), write the weights, then write the header (the commit). Loading takes the
 * valid slot with the highest seq. Every write starts at a 4-byte aligned offset (20, 20 + 64k).
 */
#include "esnn_proto.h"

#define SLOT_MAGIC 0x574e5345u /* "ESNW" little-endian */

static uint32_t weight_count(const esnn_model_t *m, const esnn_learn_t *ln)
{
    const esnn_layer_t *L = &m->layers[ln->layer];
    return (uint32_t)L->n_in * L->n_out;
}

/* Valid slot: right magic, size, model and CRC. Returns 1 and its seq if so. */
static int slot_valid(const esnn_model_t *m, const esnn_learn_t *ln, const esnn_store_t *st, uint8_t slot,
                      uint32_t *seq)
{
    uint8_t h[ESNN_SLOT_HEADER], buf[64];
    uint32_t n = weight_count(m, ln), off, crc = 0;
    if (st->read(slot, 0, h, sizeof h) != 0 || esnn_get32(h) != SLOT_MAGIC || esnn_get32(h + 8) != n ||
        esnn_get32(h + 16) != m->hash32)
        return 0;
    for (off = 0; off < n; off += sizeof buf) {
        uint32_t k = n - off < sizeof buf ? n - off : (uint32_t)sizeof buf;
        if (st->read(slot, ESNN_SLOT_HEADER + off, buf, k) != 0)
            return 0;
        crc = esnn_crc32(crc, buf, k);
    }
    if (crc != esnn_get32(h + 12))
        return 0;
    *seq = esnn_get32(h + 4);
    return 1;
}

static int newest(const esnn_model_t *m, const esnn_learn_t *ln, const esnn_store_t *st, uint32_t *seq)
{
    uint32_t s0 = 0, s1 = 0;
    int v0 = slot_valid(m, ln, st, 0, &s0), v1 = slot_valid(m, ln, st, 1, &s1);
    if (!v0 && !v1)
        return -1;
    if (v0 && (!v1 || s0 >= s1)) {
        *seq = s0;
        return 0;
    }
    *seq = s1;
    return 1;
}

int esnn_persist_save(const esnn_model_t *m, esnn_learn_t *ln, const esnn_store_t *st, uint32_t *seq_out)
{
    const esnn_layer_t *L = &m->layers[ln->layer];
    uint8_t h[ESNN_SLOT_HEADER], buf[64];
    uint32_t n = weight_count(m, ln), seq = 0, crc = 0, off;
    int cur = newest(m, ln, st, &seq);
    uint8_t slot = (uint8_t)(cur == 0 ? 1 : 0);
    if (st->slot_bytes < ESNN_SLOT_HEADER + n)
        return -1;
    seq = cur < 0 ? 1u : seq + 1u;
    for (off = 0; off < ESNN_SLOT_HEADER; ++off)
        h[off] = 0;
    if (st->erase != 0 ? st->erase(slot) != 0 : st->write(slot, 0, h, sizeof h) != 0)
        return -1; /* invalidated before the weights are touched */
    for (off = 0; off < n; off += sizeof buf) {
        uint32_t k = n - off < sizeof buf ? n - off : (uint32_t)sizeof buf, i;
        for (i = 0; i < k; ++i) {
            uint32_t idx = off + i;
            buf[i] = (uint8_t)esnn_learn_get(m, ln, (uint16_t)(idx / L->n_in), (uint16_t)(idx % L->n_in));
        }
        crc = esnn_crc32(crc, buf, k);
        if (st->write(slot, ESNN_SLOT_HEADER + off, buf, k) != 0)
            return -1;
    }
    esnn_put32(h, SLOT_MAGIC);
    esnn_put32(h + 4, seq);
    esnn_put32(h + 8, n);
    esnn_put32(h + 12, crc);
    esnn_put32(h + 16, m->hash32);
    if (st->write(slot, 0, h, sizeof h) != 0) /* the commit */
        return -1;
    *seq_out = seq;
    return 0;
}

int esnn_persist_load(const esnn_model_t *m, esnn_learn_t *ln, const esnn_store_t *st, uint32_t *seq_out)
{
    const esnn_layer_t *L = &m->layers[ln->layer];
    uint8_t buf[64];
    uint32_t n = weight_count(m, ln), seq = 0, off;
    int slot = newest(m, ln, st, &seq);
    if (slot < 0)
        return -1;
    for (off = 0; off < n; off += sizeof buf) {
        uint32_t k = n - off < sizeof buf ? n - off : (uint32_t)sizeof buf, i;
        if (st->read((uint8_t)slot, ESNN_SLOT_HEADER + off, buf, k) != 0)
            return -1;
        for (i = 0; i < k; ++i) {
            uint32_t idx = off + i;
            int32_t w = buf[i] >= 128u ? (int32_t)buf[i] - 256 : (int32_t)buf[i];
            esnn_learn_set(m, ln, (uint16_t)(idx / L->n_in), (uint16_t)(idx % L->n_in), w);
        }
    }
    *seq_out = seq;
    return 0;
}
