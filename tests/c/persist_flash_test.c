/*
 * Power cuts at every step of a SAVE to flash: after each cut the device restarts and LOADs,
 * and must get the last committed weights (never a mix, never nothing). Several rounds, so that
 * both slots are overwritten. Prints "rounds R cuts C ok K bad B steps S"; exit 0 iff B == 0.
 * Mode "breach": writes a programmed word again; the flash model must abort.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "board_config.h"
#include "esnn_model.h"
#include "esnn_proto.h"
#include "flash_model.h"

const esnn_store_t *hal_store(void);

static int32_t x_pre[ESNN_MODEL_LEARN_N_IN];
static int32_t x_post[ESNN_MODEL_LEARN_N_OUT];
static esnn_learn_t learn;
static uint8_t snapshot[FLASH_MODEL_BYTES];

#define N_IN ESNN_MODEL_LEARN_N_IN
#define N_OUT ESNN_MODEL_LEARN_N_OUT

static int32_t pattern(int p, uint16_t j, uint16_t k)
{
    return (int32_t)((p * 37 + j * 11 + k * 5) % 201) - 100; /* within int8 */
}

static void set_weights(int p)
{
    uint16_t j, k;
    for (j = 0; j < N_OUT; ++j)
        for (k = 0; k < N_IN; ++k)
            esnn_learn_set(&esnn_model, &learn, j, k, p < 0 ? 0 : pattern(p, j, k));
}

static int weights_are(int p)
{
    uint16_t j, k;
    for (j = 0; j < N_OUT; ++j)
        for (k = 0; k < N_IN; ++k)
            if (esnn_learn_get(&esnn_model, &learn, j, k) != pattern(p, j, k))
                return 0;
    return 1;
}

static volatile int saved_ok;

static void try_save(const esnn_store_t *st, long cut)
{
    uint32_t seq;
    flash_model_steps = 0;
    flash_model_cut_at = cut;
    saved_ok = 0;
    if (setjmp(flash_model_reset) == 0) {
        saved_ok = esnn_persist_save(&esnn_model, &learn, st, &seq) == 0;
    }
    flash_model_cut_at = -1;
}

int main(int argc, char **argv)
{
    const esnn_store_t *st = hal_store();
    unsigned long total;
    int round, ok = 0, bad = 0, cuts = 0, committed = 0;
    uint32_t seq;
    learn.layer = (uint16_t)ESNN_MODEL_LEARN_LAYER;
    learn.w = esnn_learn_rows;
    learn.x_pre = x_pre;
    learn.x_post = x_post;
    learn.label = ESNN_NO_LABEL;
    learn.cfg.mode = ESNN_LEARN_OFF;
    memset(flash_model_mem, 0xff, sizeof flash_model_mem);
    set_weights(0);
    try_save(st, -1);
    if (!saved_ok)
        return 2;
    if (argc > 1 && strcmp(argv[1], "breach") == 0) { /* program a programmed word: must abort */
        uint8_t b[4] = {1, 2, 3, 4};
        st->write(0, 0, b, 4);
        return 3;
    }
    for (round = 1; round <= 4; ++round) {
        long cut;
        memcpy(snapshot, flash_model_mem, sizeof snapshot);
        set_weights(round);
        try_save(st, -1); /* count the steps of one save */
        total = flash_model_steps;
        for (cut = 0; cut < (long)total; ++cut) {
            memcpy(flash_model_mem, snapshot, sizeof snapshot);
            set_weights(round);
            try_save(st, cut);
            set_weights(-1); /* restart: RAM is lost, the last good weights come from flash */
            ++cuts;
            if (esnn_persist_load(&esnn_model, &learn, st, &seq) == 0 &&
                (weights_are(committed) || (cut == (long)total - 1 && weights_are(round))))
                ++ok;
            else
                ++bad;
        }
        memcpy(flash_model_mem, snapshot, sizeof snapshot);
        set_weights(round);
        try_save(st, -1); /* this round's save completes */
        set_weights(-1);
        if (!saved_ok || esnn_persist_load(&esnn_model, &learn, st, &seq) != 0 || !weights_are(round) ||
            seq != (uint32_t)round + 1u)
            ++bad;
        committed = round;
    }
    printf("rounds 4 cuts %d ok %d bad %d steps %lu\n", cuts, ok, bad, total);
    return bad == 0 ? 0 : 1;
}
