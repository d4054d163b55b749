/*
 * Host harness of the audio front end (tests/test_audio_c.py): stdin holds the configuration
 * and the samples, little-endian:
 *   u16 channels, u16 samples_per_step, u8 E, u8 S, u8 adaptive, u8 0, i32 eps,
 *   i16 c1[channels], i16 c2[channels], u8 g[channels], u32 n, i16 pcm[n];
 * stdout gets ceil(channels / 8) bytes per completed timestep. The samples are fed in chunks of
 * varying length, so that a timestep split across calls is exercised.
 */
#include <stdio.h>
#include <stdlib.h>

#include "esnn_audio.h"

static int read_all(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }

int main(void)
{
    static int16_t c1[ESNN_AFE_MAX_CHANNELS], c2[ESNN_AFE_MAX_CHANNELS];
    static uint8_t g[ESNN_AFE_MAX_CHANNELS];
    static esnn_afe_state_t st;
    uint8_t head[12];
    uint32_t n, done = 0, chunk = 1;
    int16_t *pcm;
    uint8_t *out;
    esnn_afe_config_t cfg;
    if (!read_all(head, sizeof head))
        return 2;
    cfg.channels = (uint16_t)(head[0] | head[1] << 8);
    cfg.samples_per_step = (uint16_t)(head[2] | head[3] << 8);
    cfg.envelope_shift = head[4];
    cfg.spike_shift = head[5];
    cfg.adaptive = head[6];
    cfg.eps =
        (int32_t)((uint32_t)head[8] | (uint32_t)head[9] << 8 | (uint32_t)head[10] << 16 | (uint32_t)head[11] << 24);
    if (cfg.channels > ESNN_AFE_MAX_CHANNELS || cfg.samples_per_step == 0u)
        return 2;
    if (!read_all(c1, 2u * cfg.channels) || !read_all(c2, 2u * cfg.channels) || !read_all(g, cfg.channels) ||
        !read_all(&n, 4))
        return 2;
    cfg.c1 = c1;
    cfg.c2 = c2;
    cfg.g = g;
    pcm = malloc(2u * (size_t)n + 2u);
    out = malloc((size_t)n / cfg.samples_per_step * 8u + 8u);
    if (pcm == NULL || out == NULL || !read_all(pcm, 2u * (size_t)n))
        return 2;
    esnn_afe_reset(&st);
    while (done < n) {
        uint32_t take = chunk < n - done ? chunk : n - done;
        uint32_t steps = esnn_afe_push(&cfg, &st, pcm + done, take, out, take);
        fwrite(out, 1, (size_t)steps * ((cfg.channels + 7u) / 8u), stdout);
        done += take;
        chunk = chunk * 3u % 997u + 1u; /* 1, 4, 13, 40, 121, 364, ...: uneven chunks */
    }
    free(pcm);
    free(out);
    return 0;
}
