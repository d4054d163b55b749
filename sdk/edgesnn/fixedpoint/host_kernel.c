/*
 * The event-driven integer-contract kernel of fast_kernel.py, in C for the host: compiled once
 * by the host's cc into edgesnn's cache and loaded with ctypes (milliseconds, where numba's
 * cached kernel takes about half a second to load). Same arithmetic as fast_kernel._layer_kernel,
 * statement for statement; tests hold every backend to the scalar reference exactly.
 * int64 everywhere a state is formed; int16 partial sums of at most CHUNK int8 weights (exact).
 */
#include <stdint.h>
#include <string.h>

#define CHUNK 256

static int64_t clamp(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* floor((x + 2^15) / 2^16): GCC and Clang shift signed values arithmetically */
static int64_t decay(int64_t s, int64_t alpha) { return (s * alpha + (1 << 15)) >> 16; }

/* The common layer (voltage-based, reset by subtraction), written so that compilers vectorise
 * it: no aliasing (restrict), no branches. */
static int64_t lif_subtract(int64_t n_out, int64_t *restrict v, const int64_t *restrict alpha_mem,
                            const int32_t *restrict acc, const int64_t *restrict bias,
                            const int64_t *restrict threshold, int64_t shift, int64_t lo, int64_t hi,
                            uint8_t *restrict z_prev, uint8_t *restrict o)
{
    int64_t sat = 0, j;
    for (j = 0; j < n_out; ++j) {
        int64_t u = clamp(decay(v[j], alpha_mem[j]) + (int64_t)acc[j] * ((int64_t)1 << shift) + bias[j], lo, hi);
        int64_t z = u > threshold[j];
        sat += (u == lo) + (u == hi);
        v[j] = u - (threshold[j] & -z);
        z_prev[j] = (uint8_t)z;
        o[j] = (uint8_t)z;
    }
    return sat;
}

int64_t esnn_host_layer(const uint8_t *s_in, int64_t n_samples, int64_t steps, int64_t n_in, const int8_t *w_t,
                        const int32_t *r_t, int64_t n_out, int64_t shift, const int64_t *bias, int64_t cuba,
                        const int64_t *alpha_syn, const int64_t *alpha_mem, const int64_t *threshold,
                        int64_t subtract, const int64_t *v_reset, int64_t lo, int64_t hi, int64_t record,
                        uint8_t *out, int64_t *rec_v, int64_t *rec_i, int64_t *v_last, int32_t *acc, int16_t *part,
                        int64_t *active, int64_t *v, int64_t *cur, uint8_t *z_prev)
{
    int64_t sat = 0, n, t, j, k, a, a0;
    for (n = 0; n < n_samples; ++n) {
        memset(v, 0, (size_t)n_out * sizeof *v);
        memset(cur, 0, (size_t)n_out * sizeof *cur);
        memset(z_prev, 0, (size_t)n_out);
        for (t = 0; t < steps; ++t) {
            const uint8_t *s = s_in + (n * steps + t) * n_in;
            uint8_t *o = out + (n * steps + t) * n_out;
            int64_t n_active = 0;
            memset(acc, 0, (size_t)n_out * sizeof *acc);
            for (k = 0; k < n_in; ++k) {
                active[n_active] = k;
                n_active += s[k];
            }
            for (a0 = 0; a0 < n_active; a0 += CHUNK) {
                int64_t end = a0 + CHUNK < n_active ? a0 + CHUNK : n_active;
                memset(part, 0, (size_t)n_out * sizeof *part);
                for (a = a0; a < end; ++a) {
                    const int8_t *row = w_t + active[a] * n_out;
                    for (j = 0; j < n_out; ++j)
                        part[j] = (int16_t)(part[j] + row[j]);
                }
                for (j = 0; j < n_out; ++j)
                    acc[j] += part[j];
            }
            if (r_t)
                for (k = 0; k < n_out; ++k)
                    if (z_prev[k])
                        for (j = 0; j < n_out; ++j)
                            acc[j] += r_t[k * n_out + j];
            if (!cuba && subtract) {
                sat += lif_subtract(n_out, v, alpha_mem, acc, bias, threshold, shift, lo, hi, z_prev, o);
            } else {
                for (j = 0; j < n_out; ++j) {
                    int64_t x = (int64_t)acc[j] * ((int64_t)1 << shift) + bias[j], u;
                    int z;
                    if (cuba) {
                        int64_t c = clamp(decay(cur[j], alpha_syn[j]) + x, lo, hi);
                        sat += (c == lo) | (c == hi);
                        cur[j] = c;
                        x = c;
                    }
                    u = clamp(decay(v[j], alpha_mem[j]) + x, lo, hi);
                    sat += (u == lo) | (u == hi);
                    z = u > threshold[j];
                    if (subtract)
                        u -= threshold[j] * z;
                    else if (z)
                        u = v_reset[j];
                    v[j] = u;
                    z_prev[j] = (uint8_t)z;
                    o[j] = (uint8_t)z;
                }
            }
            if (record) {
                memcpy(rec_v + (n * steps + t) * n_out, v, (size_t)n_out * sizeof *v);
                if (cuba)
                    memcpy(rec_i + (n * steps + t) * n_out, cur, (size_t)n_out * sizeof *cur);
            }
        }
        memcpy(v_last + n * n_out, v, (size_t)n_out * sizeof *v);
    }
    return sat;
}
