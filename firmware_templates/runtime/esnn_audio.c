/*
 * The audio front end (esnn_audio.h). Samples are taken a block at a time (up to the end of
 * the timestep) and each channel runs over the block with its states in registers: per sample
 * the AR part, the MA part and the rectified sum, nothing else; the envelope, the threshold and
 * the integrate-and-fire run once per timestep. The state holds 4 W: on cores with the DSP
 * extension floor(c * W / 2^14) is then one SMLAWB, floor(c * 4W / 2^16).
 */
#include "esnn_audio.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
/* acc + floor(w4 * c / 2^16), the 48-bit product's top 32 bits */
#define AFE_MAC(acc, w4, c) __smlawb((w4), (int32_t)(c), (acc))
#elif defined(__ARM_ARCH_6M__)
/* ARMv6-M has no 32 x 32 -> 64 multiply (a libgcc call): with 4W = hi * 2^16 + lo, 0 <= lo <
 * 2^16, floor(c * 4W / 2^16) = c * hi + floor(c * lo / 2^16) exactly, and both products fit 32
 * bits (|hi| < 2^14, |c| <= 2^15). GCC shifts signed values arithmetically (esnn.c says why). */
static inline int32_t afe_mac(int32_t acc, int32_t w4, int16_t c)
{
    int32_t hi = w4 >> 16, lo = (int32_t)((uint32_t)w4 & 0xFFFFu);
    return acc + c * hi + ((c * lo) >> 16);
}
#define AFE_MAC(acc, w4, c) afe_mac((acc), (w4), (c))
#else
/* floor(x / 2^16); GCC and Clang shift signed values arithmetically (esnn.c says why) */
static int32_t afe_mac(int32_t acc, int32_t w4, int16_t c)
{
    int64_t p = (int64_t)w4 * c;
#if defined(__GNUC__)
    return acc + (int32_t)(p >> 16);
#else
    return acc + (int32_t)(p >= 0 ? (int64_t)((uint64_t)p >> 16) : -(int64_t)((uint64_t)(-(p + 1)) >> 16) - 1);
#endif
}
#define AFE_MAC(acc, w4, c) afe_mac((acc), (w4), (c))
#endif

/* One sample of one channel: OLD holds 4 W[n-2] and becomes 4 W[n]; NEW holds 4 W[n-1]; the
 * rectified output |W[n] - W[n-2]| >> F is added to sum. |W| < 2^28: 4 W and their difference
 * fit an int32. */
#define AFE_SAMPLE(X, OLD, NEW) \
    do { \
        int32_t w_ = AFE_MAC(AFE_MAC((int32_t)((uint32_t)(int32_t)(X) << g), NEW, c1), OLD, c2); \
        int32_t y_ = (int32_t)((uint32_t)w_ << 2) - OLD, s_ = y_ >> 31; \
        sum += (int32_t)((uint32_t)((y_ ^ s_) - s_) >> (ESNN_AFE_FRAC_BITS + 2u)); \
        OLD = (int32_t)((uint32_t)w_ << 2); \
    } while (0)

void esnn_afe_reset(esnn_afe_state_t *st)
{
    uint32_t k;
    for (k = 0; k < ESNN_AFE_MAX_CHANNELS; ++k)
        st->w1[k] = st->w2[k] = st->sum[k] = st->m[k] = st->u[k] = 0;
    st->phase = 0u;
}

/* a + b, both >= 0, saturated at INT32_MAX */
static int32_t afe_sat_add(int32_t a, int32_t b) { return a > INT32_MAX - b ? INT32_MAX : a + b; }

/* The once-per-timestep part: threshold from the envelopes before this timestep, then the
 * envelope and leaky integrate-and-fire updates; writes the timestep's spike bytes. */
static void afe_step(const esnn_afe_config_t *cfg, esnn_afe_state_t *st, uint8_t *out)
{
    const unsigned E = cfg->envelope_shift;
    int32_t top = cfg->eps, theta;
    uint32_t k;
    if (cfg->adaptive) {
        for (k = 0; k < cfg->channels; ++k) {
            int32_t level = st->m[k] >> E; /* m >= 0: a plain shift */
            top = level > top ? level : top;
        }
    }
    theta = (int32_t)((uint32_t)top << cfg->spike_shift); /* < 2^31: S <= E, eps < 2^16 */
    for (k = 0; k < ((uint32_t)cfg->channels + 7u) / 8u; ++k)
        out[k] = 0u;
    for (k = 0; k < cfg->channels; ++k) {
        int32_t r = st->sum[k], u;
        st->m[k] = afe_sat_add(st->m[k] - (st->m[k] >> E), r);
        u = afe_sat_add(st->u[k] - (st->u[k] >> E), r);
        if (u >= theta) {
            out[k >> 3] = (uint8_t)(out[k >> 3] | (1u << (k & 7u)));
            u %= theta; /* every spike of the timestep emitted */
        }
        st->u[k] = u;
        st->sum[k] = 0;
    }
}

uint32_t esnn_afe_push(const esnn_afe_config_t *cfg, esnn_afe_state_t *st, const int16_t *pcm, uint32_t n, uint8_t *out,
                       uint32_t max_steps)
{
    const uint32_t bytes = ((uint32_t)cfg->channels + 7u) / 8u;
    uint32_t steps = 0, k;
    uint8_t scratch[ESNN_AFE_MAX_CHANNELS / 8u];
    while (n > 0u) {
        uint32_t take = (uint32_t)cfg->samples_per_step - st->phase;
        take = take < n ? take : n;
        for (k = 0; k < cfg->channels; ++k) {
            const int16_t c1 = cfg->c1[k], c2 = cfg->c2[k];
            const unsigned g = cfg->g[k];
            int32_t w1 = st->w1[k], w2 = st->w2[k], sum = st->sum[k];
            const int16_t *x = pcm, *end = pcm + (take & ~1u);
            while (x < end) { /* two samples a turn: the states swap roles instead of moving */
                AFE_SAMPLE(x[0], w2, w1);
                AFE_SAMPLE(x[1], w1, w2);
                x += 2;
            }
            if (take & 1u) { /* an odd sample: w2 becomes the newest, so the two change names */
                int32_t newest;
                AFE_SAMPLE(x[0], w2, w1);
                newest = w2;
                w2 = w1;
                w1 = newest;
            }
            st->w1[k] = w1;
            st->w2[k] = w2;
            st->sum[k] = sum;
        }
        pcm += take;
        n -= take;
        st->phase = (uint16_t)(st->phase + take);
        if (st->phase == cfg->samples_per_step) {
            st->phase = 0u;
            afe_step(cfg, st, steps < max_steps ? out + steps * bytes : scratch);
            steps += steps < max_steps;
        }
    }
    return steps;
}
