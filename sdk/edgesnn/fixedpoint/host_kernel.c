/*
 * The event-driven integer-contract kernel of fast_kernel.py, in C for the host: compiled once
 * by the host's cc into edgesnn's cache and loaded with ctypes (milliseconds, where numba's
 * cached kernel takes about half a second to load). Same arithmetic as fast_kernel._layer_kernel
 * (with the synaptic sums in SIMD register tiles); tests hold every backend to the scalar
 * reference exactly.
 * int64 everywhere a state is formed; int16 partial sums of at most CHUNK int8 weights (exact).
 * Weights come as int8 (n_in, n_pad), n_pad = n_out rounded up to whole vectors, zeros beyond.
 */
#include <stdint.h>
#include <string.h>
#if defined(__AVX512BW__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define CHUNK 256

/* Synaptic sums in registers: int16 lanes in vectors of the host's SIMD width (GCC/Clang vector
 * extension), tiles of up to 8 vectors held across all active rows of a chunk, so each row costs
 * one load-add per vector and no stores. 32 lanes (one zmm) with AVX-512BW, else 16 (one ymm, two
 * xmm or NEON q registers): 64-byte vectors on an AVX2 host are lowered to stack spills (perf
 * showed a third of the kernel's time there). Weight rows arrive padded to a multiple of 32
 * lanes (host_kernel.py), whole vectors at either width. */
#if defined(__AVX512BW__)
#define LANES 32
#else
#define LANES 16
#endif
typedef int16_t vec16 __attribute__((vector_size(2 * LANES)));

/* LANES int8 weights sign-extended to int16 lanes: one vpmovsxbw (half the bytes of int16
 * weights: the rows stream from L2) */
static vec16 load16(const int8_t *p)
{
#if defined(__AVX512BW__)
    return (vec16)_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)p));
#elif defined(__AVX2__) /* GCC 12 converts 16 bytes through two xmm halves and an insert */
    return (vec16)_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
#else
    typedef int8_t vec8 __attribute__((vector_size(LANES)));
    vec8 x;
    memcpy(&x, p, sizeof x);
    return __builtin_convertvector(x, vec16);
#endif
}

/* acc[0 .. LANES) += t, widened to int32 lanes */
static void widen_add(int32_t *acc, vec16 t)
{
#if defined(__AVX512BW__)
    typedef int16_t half16 __attribute__((vector_size(32)));
    typedef int32_t vec32 __attribute__((vector_size(64)));
    half16 lo = __builtin_shufflevector(t, t, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    half16 hi = __builtin_shufflevector(t, t, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    vec32 a, b;
    memcpy(&a, acc, sizeof a);
    memcpy(&b, acc + 16, sizeof b);
    a += __builtin_convertvector(lo, vec32);
    b += __builtin_convertvector(hi, vec32);
    memcpy(acc, &a, sizeof a);
    memcpy(acc + 16, &b, sizeof b);
#else
    typedef int32_t vec32 __attribute__((vector_size(4 * LANES)));
    vec32 a;
    memcpy(&a, acc, sizeof a);
    a += __builtin_convertvector(t, vec32);
    memcpy(acc, &a, sizeof a);
#endif
}

/* acc[j0 .. j0 + NV*LANES) += sum over active rows a0..a1 of w[row][...] (at most CHUNK rows:
 * the int16 lanes cannot overflow, see CHUNK) */
#define ADD_TILE(NV)                                                                                   \
    static void add_tile_##NV(const int8_t *w, int64_t n_pad, const int64_t *active, int64_t a0,   \
                              int64_t a1, int64_t j0, int32_t *acc)                                    \
    {                                                                                                  \
        vec16 t[NV];                                                                                   \
        int64_t a, v;                                                                                  \
        for (v = 0; v < NV; ++v)                                                                       \
            t[v] = (vec16){0};                                                                         \
        for (a = a0; a < a1; ++a) {                                                                    \
            const int8_t *row = w + active[a] * n_pad + j0;                                         \
            for (v = 0; v < NV; ++v)                                                                   \
                t[v] += load16(row + v * LANES);                                                       \
        }                                                                                              \
        for (v = 0; v < NV; ++v)                                                                       \
            widen_add(acc + j0 + v * LANES, t[v]);                                                     \
    }
ADD_TILE(8)
ADD_TILE(7)
ADD_TILE(6)
ADD_TILE(5)
ADD_TILE(4)
ADD_TILE(3)
ADD_TILE(2)
ADD_TILE(1)

/* Every output in one pass over the active rows up to 8 vectors wide (a 96-neuron layer is one
 * 6-vector tile), then 8 at a time */
static void add_rows(const int8_t *w, int64_t n_pad, const int64_t *active, int64_t a0, int64_t a1,
                     int32_t *acc)
{
    int64_t j0 = 0;
    for (; n_pad - j0 > 8 * LANES; j0 += 8 * LANES)
        add_tile_8(w, n_pad, active, a0, a1, j0, acc);
    switch ((n_pad - j0) / LANES) {
    case 8: add_tile_8(w, n_pad, active, a0, a1, j0, acc); break;
    case 7: add_tile_7(w, n_pad, active, a0, a1, j0, acc); break;
    case 6: add_tile_6(w, n_pad, active, a0, a1, j0, acc); break;
    case 5: add_tile_5(w, n_pad, active, a0, a1, j0, acc); break;
    case 4: add_tile_4(w, n_pad, active, a0, a1, j0, acc); break;
    case 3: add_tile_3(w, n_pad, active, a0, a1, j0, acc); break;
    case 2: add_tile_2(w, n_pad, active, a0, a1, j0, acc); break;
    case 1: add_tile_1(w, n_pad, active, a0, a1, j0, acc); break;
    default: break;
    }
}

/* Bit i set where byte i of s[0 .. 64) is 1 (the bytes are 0 or 1). */
static uint64_t mask64(const uint8_t *s)
{
#if defined(__AVX512BW__)
    __m512i v = _mm512_loadu_si512((const void *)s);
    return (uint64_t)_mm512_test_epi8_mask(v, v);
#elif defined(__AVX2__)
    const __m256i zero = _mm256_setzero_si256();
    __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)s);
    __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(s + 32));
    uint32_t za = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, zero));
    uint32_t zb = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, zero));
    return ~((uint64_t)za | (uint64_t)zb << 32);
#else
    uint64_t m = 0;
    int i;
    for (i = 0; i < 8; ++i) {
        uint64_t word;
        memcpy(&word, s + 8 * i, 8);
        /* each 0/1 byte's bit gathered into the top byte by one multiplication: bit j = byte j
         * (little endian; bytes read one by one elsewhere) */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        m |= ((word * 0x0102040810204080ULL) >> 56) << (8 * i);
#else
        {
            int j;
            for (j = 0; j < 8; ++j)
                m |= (uint64_t)s[8 * i + j] << (8 * i + j);
        }
#endif
    }
    return m;
#endif
}

/* The indices of the 1s among n 0/1 bytes, in ascending order: 64 inputs at a time as a bit
 * mask, then one iteration per set bit, so that silent stretches (most of a hidden layer's
 * inputs) cost a load and a test. */
static int64_t active_inputs(const uint8_t *s, int64_t n, int64_t *active)
{
    int64_t k = 0, n_active = 0;
    for (; k + 64 <= n; k += 64) {
        uint64_t m = mask64(s + k);
        while (m) {
            active[n_active++] = k + __builtin_ctzll(m);
            m &= m - 1u;
        }
    }
    if (k < n) { /* the last n % 64 inputs as one more mask (a byte loop took 14 % of a 96-input
                    layer's time) */
        uint8_t tail[64] = {0};
        uint64_t m;
        memcpy(tail, s + k, (size_t)(n - k));
        for (m = mask64(tail); m; m &= m - 1u)
            active[n_active++] = k + __builtin_ctzll(m);
    }
    return n_active;
}

static int64_t clamp(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* floor((x + 2^15) / 2^16): GCC and Clang shift signed values arithmetically */
static int64_t decay(int64_t s, int64_t alpha) { return (s * alpha + (1 << 15)) >> 16; }

/* The same in 32 bits, for |s| < 2^30 and alpha in [0, 2^16]: with s = hi 2^16 + lo (lo in
 * [0, 2^16)), floor((s alpha + 2^15) / 2^16) = hi alpha + floor((lo alpha + 2^15) / 2^16), and
 * lo alpha + 2^15 < 2^32. Twice the lanes of the 64-bit product per vector. */
static int32_t decay32(int32_t s, int32_t alpha)
{
    uint32_t lo = (uint32_t)s & 0xffffu;
    return (s >> 16) * alpha + (int32_t)((lo * (uint32_t)alpha + 0x8000u) >> 16);
}

/* The common layer (voltage-based, reset by subtraction), written so that compilers vectorise
 * it: no aliasing (restrict), no branches. */
static int64_t lif_subtract(int64_t n_out, int64_t *restrict v, const int64_t *restrict alpha_mem,
                            const int32_t *restrict acc, const int64_t *restrict bias,
                            const int64_t *restrict threshold, int64_t shift, int64_t lo, int64_t hi,
                            uint8_t *restrict o)
{
    int64_t sat = 0, j;
    for (j = 0; j < n_out; ++j) {
        int64_t u = clamp(decay(v[j], alpha_mem[j]) + (int64_t)acc[j] * ((int64_t)1 << shift) + bias[j], lo, hi);
        int64_t z = u > threshold[j];
        sat += (u == lo) + (u == hi);
        v[j] = u - (threshold[j] & -z);
        o[j] = (uint8_t)z;
    }
    return sat;
}

/* lif_subtract in int32 lanes, used when host_kernel.py has shown that no sum before the
 * clamp can leave int32 (state_bits <= 31, |acc| 2^shift + |bias| + 2^(state_bits - 1) < 2^31) */
static int32_t clamp32(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

static int64_t lif_subtract32(int64_t n_out, int32_t *restrict v, const int32_t *restrict alpha_mem,
                              const int32_t *restrict acc, const int32_t *restrict bias,
                              const int32_t *restrict threshold, int32_t shift, int32_t lo, int32_t hi,
                              uint8_t *restrict o)
{
    int32_t sat = 0;
    int64_t j;
    for (j = 0; j < n_out; ++j) {
        int32_t u = clamp32(decay32(v[j], alpha_mem[j]) + acc[j] * (1 << shift) + bias[j], lo, hi);
        int32_t z = u > threshold[j];
        sat += (u == lo) + (u == hi);
        v[j] = u - (threshold[j] & -z);
        o[j] = (uint8_t)z;
    }
    return sat;
}

/* The general layer: current-based and/or reset to a value */
static int64_t lif_general(int64_t n_out, int64_t *v, int64_t *cur, const int32_t *acc, const int64_t *bias,
                           int64_t cuba, const int64_t *alpha_syn, const int64_t *alpha_mem,
                           const int64_t *threshold, int64_t subtract, const int64_t *v_reset, int64_t shift,
                           int64_t lo, int64_t hi, uint8_t *o)
{
    int64_t sat = 0, j;
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
        o[j] = (uint8_t)z;
    }
    return sat;
}

/* One layer over n_samples x steps. p32 (may be null): the layer's alpha_mem, bias and
 * threshold as int32, when host_kernel.py chose the 32-bit update (v32 is then its state).
 * Recurrent weights come in one of three forms: dense (r_t, row k = what spike k adds); compressed
 * rows when mostly zero (r_ptr, r_idx, r_val: row k's nonzeros are entries r_ptr[k] .. r_ptr[k+1]
 * - 1); or only the diagonal (r_diag), as snnTorch's undecayed subtract reset imports: a neuron's
 * own spike subtracting from it. Each way the same integers reach acc; only zeros are skipped.
 * synops[n] gets sample n's synaptic events: (input events + recurrent events) x n_out, the
 * recurrent events being the spikes of every step but the last (each reaches the next step). */
int64_t esnn_host_layer(const uint8_t *s_in, int64_t n_samples, int64_t steps, int64_t n_in, const int8_t *w_t,
                        int64_t n_pad, const int32_t *r_t, const int64_t *r_ptr, const int32_t *r_idx,
                        const int32_t *r_val, const int32_t *r_diag, int64_t n_out, int64_t shift, const int64_t *bias,
                        int64_t cuba, const int64_t *alpha_syn, const int64_t *alpha_mem, const int64_t *threshold,
                        int64_t subtract, const int64_t *v_reset, int64_t lo, int64_t hi, int64_t record,
                        const int32_t *p32, uint8_t *out, int64_t *rec_v, int64_t *rec_i, int64_t *v_last,
                        int64_t *synops, int32_t *acc, int64_t *active, int64_t *v, int64_t *cur, int32_t *v32)
{
    int64_t sat = 0, n, t, j, k, a0;
    for (n = 0; n < n_samples; ++n) {
        int64_t events = 0;
        if (p32) /* the state the chosen update keeps */
            memset(v32, 0, (size_t)n_out * sizeof *v32);
        else
            memset(v, 0, (size_t)n_out * sizeof *v);
        if (cuba)
            memset(cur, 0, (size_t)n_out * sizeof *cur);
        for (t = 0; t < steps; ++t) {
            const uint8_t *s = s_in + (n * steps + t) * n_in;
            uint8_t *o = out + (n * steps + t) * n_out;
            int64_t n_active = active_inputs(s, n_in, active);
            events += n_active;
            memset(acc, 0, (size_t)n_pad * sizeof *acc);
            for (a0 = 0; a0 < n_active; a0 += CHUNK)
                add_rows(w_t, n_pad, active, a0, a0 + CHUNK < n_active ? a0 + CHUNK : n_active, acc);
            if (r_diag && t > 0) { /* a diagonal: each neuron's own last spike, branch-free */
                const uint8_t *z_prev = o - n_out;
                for (j = 0; j < n_out; ++j) {
                    acc[j] += r_diag[j] * (int32_t)z_prev[j];
                    events += z_prev[j];
                }
            } else if ((r_t || r_ptr) && t > 0) {
                int64_t n_rec = active_inputs(o - n_out, n_out, active); /* the previous step's spikes */
                events += n_rec;
                for (a0 = 0; a0 < n_rec; ++a0) {
                    k = active[a0];
                    if (r_ptr)
                        for (j = r_ptr[k]; j < r_ptr[k + 1]; ++j)
                            acc[r_idx[j]] += r_val[j];
                    else
                        for (j = 0; j < n_out; ++j)
                            acc[j] += r_t[k * n_out + j];
                }
            }
            if (p32)
                sat += lif_subtract32(n_out, v32, p32, acc, p32 + n_out, p32 + 2 * n_out, (int32_t)shift,
                                      (int32_t)lo, (int32_t)hi, o);
            else if (!cuba && subtract)
                sat += lif_subtract(n_out, v, alpha_mem, acc, bias, threshold, shift, lo, hi, o);
            else
                sat += lif_general(n_out, v, cur, acc, bias, cuba, alpha_syn, alpha_mem, threshold, subtract,
                                   v_reset, shift, lo, hi, o);
            if (record) {
                int64_t *rv = rec_v + (n * steps + t) * n_out;
                if (p32)
                    for (j = 0; j < n_out; ++j)
                        rv[j] = v32[j];
                else
                    memcpy(rv, v, (size_t)n_out * sizeof *v);
                if (cuba)
                    memcpy(rec_i + (n * steps + t) * n_out, cur, (size_t)n_out * sizeof *cur);
            }
        }
        if (p32)
            for (j = 0; j < n_out; ++j)
                v_last[n * n_out + j] = v32[j];
        else
            memcpy(v_last + n * n_out, v, (size_t)n_out * sizeof *v);
        synops[n] = events * n_out;
    }
    return sat;
}
