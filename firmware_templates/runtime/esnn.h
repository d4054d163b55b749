/*
 * edgesnn C runtime: the integer contract of docs/fixed-point.md, event-driven.
 *
 * C99, no malloc, no floating point, no hidden state: everything a model computes with lives in
 * the caller's esnn_state_t. The generated model.c provides the const tables (in flash) and the
 * buffers' sizes; this runtime is the same for every model and board.
 */
#ifndef ESNN_H
#define ESNN_H

#include <stdint.h>
#include <stddef.h>

/* C99 compile-time check (C11's _Static_assert is not C99). */
#define ESNN_STATIC_ASSERT(name, cond) typedef char esnn_static_assert_##name[(cond) ? 1 : -1]

#define ESNN_ABI_VERSION 6
#define ESNN_CONTRACT_VERSION 1

/* layer flags */
#define ESNN_CUBA 1u /* current-based: has a synaptic current state i */
#define ESNN_RECURRENT 2u /* has recurrent weights (own spikes of the previous step) */
#define ESNN_RESET_SUBTRACT 4u /* reset by subtraction; otherwise to v_reset */
#define ESNN_FAST32 8u /* every intermediate provably fits int32 (set by the generator) */
/* a SEW gate on the spikes the layer emits (docs/fixed-point.md, "Graphs"), with layer
 * gate_source's spikes of this step: at most one of the two */
#define ESNN_GATE_OR 16u /* a OR s */
#define ESNN_GATE_IAND 32u /* (NOT a) AND s */
#define ESNN_GATED (ESNN_GATE_OR | ESNN_GATE_IAND)

/*
 * Weight tables are laid out for the kernel: one row per presynaptic neuron (so a spike reads
 * one contiguous row), two int16 lanes per 32-bit word holding the value hi * 65536 + lo. Adding
 * words adds both lanes at once; the lanes stay exact while at most `chunk` events are summed
 * (chunk * max|w| < 2^15), after which they are unpacked into the int32 accumulators.
 * Rows are padded to a multiple of 4 words.
 */
/* The two lanes of a packed word (sums of lanes stay exact while each fits int16). Written
 * without implementation-defined conversions of out-of-range values. */
static inline int32_t esnn_lane_lo(uint32_t word)
{
    uint32_t low = word & 0xffffu;
    return low >= 0x8000u ? (int32_t)low - 65536 : (int32_t)low;
}

static inline int32_t esnn_lane_hi(uint32_t word, int32_t lo)
{
    uint32_t d = word - (uint32_t)lo; /* a multiple of 2^16 */
    return (d <= 0x7fffffffu ? (int32_t)d : -(int32_t)(~d) - 1) / 65536;
}

/* The two lanes of a packed word, in the fewest instructions the compiler allows: GCC and Clang
 * convert out-of-range unsigned values to signed by wrapping and shift signed values
 * arithmetically (their documented behaviour), so lo is a sign extension and hi one shift. */
#if defined(__GNUC__)
#define ESNN_LANES(word, lo, hi) \
    do { \
        (lo) = (int32_t)(int16_t)(uint16_t)(word); \
        (hi) = (int32_t)((word) - (uint32_t)(lo)) >> 16; \
    } while (0)
#else
#define ESNN_LANES(word, lo, hi) \
    do { \
        (lo) = esnn_lane_lo(word); \
        (hi) = esnn_lane_hi((word), (lo)); \
    } while (0)
#endif

/* A layer's generated neuron update (esnn_update.h): v, the synaptic input (NULL: none this
 * step) and the spike list to fill; returns the spike count. */
typedef uint16_t (*esnn_update_fn)(int32_t *v, const int32_t *acc, uint16_t *out);
/* The same update reading the synaptic sums still packed (two int16 lanes per word, as
 * accumulate leaves them after one chunk of events): saves unpacking them. */
typedef uint16_t (*esnn_update_packed_fn)(int32_t *v, const uint32_t *part, uint16_t *out);
/*
 * A layer's generated update of a timestep without synaptic input, for the neurons listed in
 * `awake` (n_awake of them, or every neuron when n_awake is ESNN_AWAKE_TRACK): appends the ones
 * that spike to `out` (counting them in *n_spikes), keeps in `awake` (in order, in place) the
 * ones whose state changed or that spiked, and returns how many it kept.
 */
typedef uint16_t (*esnn_idle_fn)(int32_t *v, uint16_t *awake, uint16_t n_awake, uint16_t *out, uint16_t *n_spikes);

/* n_awake of a layer whose awake list is not known: every neuron counts as awake. After a reset
 * or a step with input (ESNN_AWAKE_ALL) the next step without input runs the plain update, as
 * fast as before idle skipping (input often comes back at once); the one after that
 * (ESNN_AWAKE_TRACK) runs the update that also lists the neurons still changing. */
#define ESNN_AWAKE_ALL 0xffffu
#define ESNN_AWAKE_TRACK 0xfffeu

struct esnn_model_s;
struct esnn_state_s;
struct esnn_layer_s;

/* Input pooling (docs/fixed-point.md, "Convolution and pooling"): windows kh x kw that tile the
 * map (stride == kernel); rows and columns left over are dropped. The pooled map is indexed
 * (y * out_w + x) * c + ch, like every map a convolution makes on the device. */
#define ESNN_POOL_SUM 1u /* one event per input spike: the weights add once per spike in the window */
#define ESNN_POOL_MAX 2u /* one event per window with any spike (a logical OR) */
typedef struct {
    uint8_t kind;
    uint8_t kh, kw;
    uint8_t in_hwc; /* input indices are (y * w + x) * c + ch (a convolution's), else (ch * h + y) * w + x */
    uint16_t c, h, w; /* the map before pooling */
    uint16_t out_h, out_w;
    /* esnn_pool_events (esnn_conv.c), named here by the generated record so that a model
     * without pooling or convolutions links none of esnn_conv.c */
    uint16_t (*map)(const void *pool, const uint16_t *in, uint16_t n, uint16_t *out, uint8_t *seen);
} esnn_pool_t;

/* A convolution's shape. Its weight table holds one row per (input channel, ky, kx): the
 * weights of the channel's group's `cog` output channels, packed two int16 lanes per word
 * (`words_g` words). The packed sums hold `words_pos` = groups * words_g words per output
 * position; channel co of group g is lane g * 2 * words_g + (co - g * cog). Neurons are indexed
 * (oy * out_w + ox) * out_c + co, and the per-neuron parameter tables of a convolutional layer
 * hold one entry per output channel. */
typedef struct esnn_conv_s {
    uint16_t in_c, in_h, in_w;
    uint16_t out_c, out_h, out_w;
    uint8_t kh, kw, sh, sw, ph, pw;
    uint8_t in_hwc; /* as esnn_pool_t */
    uint8_t single_pass; /* receptive field x max|w| < 2^15: the packed lanes never need a flush */
    uint16_t cig, cog; /* input and output channels per group */
    uint16_t words_g, words_pos;
    /* esnn_step_conv (esnn_conv.c), named by the generated record (see esnn_pool_t.map) */
    uint16_t (*step)(const struct esnn_model_s *m, struct esnn_state_s *s, const struct esnn_layer_s *L,
                     const uint16_t *in, uint16_t n_in);
} esnn_conv_t;

/* A graph's extra connection into a fully connected layer (docs/fixed-point.md, "Graphs"): one
 * packed row per source neuron, the target's `words` per row. Its source's spike list at the time
 * the target runs is the right step by construction: layers run in index order, so an earlier
 * source has this step's spikes and the target itself or a later one still has the last step's. */
typedef struct {
    int16_t source; /* -1: the network input, else a layer */
    uint16_t n_in;
    const uint32_t *w; /* into a fully connected layer: the packed rows; else NULL */
    /* into a convolutional layer: a one-to-one connection from a map of its shape (a residual:
     * neuron j of the source adds dw[its channel] to neuron j), one weight per channel; else NULL */
    const int32_t *dw;
    /* pooling of the source's spike map before the rows (into a fully connected layer), or
     * NULL; its events go to the layer's pooling scratch once the layer's own are summed */
    const esnn_pool_t *pool;
    /* into a convolutional layer: a convolution of the target's output shape and grouping
     * (a shortcut: strided, 3x3, a channel change), its tap rows in `w`; else NULL */
    const struct esnn_conv_s *conv;
} esnn_edge_t;

typedef struct esnn_layer_s {
    uint16_t n_in; /* inputs of the weights (after pooling) */
    uint16_t n_out;
    uint16_t words; /* packed words per row (dense) or per output position (conv: words_pos) */
    uint8_t shift;
    uint8_t flags;
    const uint32_t *w; /* n_in rows x words */
    const uint32_t *r; /* n_out rows x words, or NULL */
    /* per-neuron parameters of the generic update; NULL when `update` has them built in */
    const int32_t *bias;
    const int32_t *alpha_mem; /* Q0.16 */
    const int32_t *alpha_syn; /* Q0.16, or NULL */
    const int32_t *threshold;
    const int32_t *v_reset;
    uint32_t offset; /* first neuron of this layer in the state arrays */
    esnn_update_fn update; /* specialised neuron update, or NULL for the generic one */
    esnn_update_packed_fn update_packed; /* the same on packed sums, or NULL */
    const esnn_conv_t *conv; /* a convolutional layer's shape, or NULL (fully connected) */
    const esnn_pool_t *pool; /* pooling of the layer's input spikes, or NULL */
    esnn_idle_fn idle; /* specialised update without input, or NULL for the generic one */
    int16_t source; /* whose spikes the own weights read: -1 the input, else an earlier layer */
    uint16_t first_edge, n_edges; /* its extra connections: model edges[first_edge ...] */
    /* the layer whose spikes a SEW gate (flags ESNN_GATE_OR or ESNN_GATE_IAND) joins, else -1;
     * it fills the record's tail padding, so the record is as large as without it */
    int16_t gate_source;
} esnn_layer_t;

typedef struct esnn_model_s {
    uint32_t abi_version;
    uint32_t contract_version;
    uint32_t hash32; /* first 32 bits of the model's content hash */
    uint16_t n_layers;
    uint16_t n_inputs;
    uint16_t n_outputs;
    uint16_t chunk; /* events per int16 partial sum */
    int32_t weight_limit; /* |w| <= weight_limit for every weight (2^(bits-1) - 1) */
    int32_t state_lo;
    int32_t state_hi;
    const esnn_layer_t *layers;
    const esnn_edge_t *edges; /* a graph's extra connections, grouped by target; NULL in a chain */
} esnn_model_t;

/* All mutable state. Sizes come from the generated ESNN_MODEL_* defines. */
typedef struct esnn_state_s {
    int32_t *v; /* membrane, one per neuron */
    int32_t *i; /* synaptic current, one per neuron (used by CUBA layers) */
    uint16_t *spikes; /* per layer: indices of the neurons that spiked this step */
    uint16_t *n_spikes; /* per layer: how many */
    int32_t *acc; /* scratch: 2 * max words */
    uint32_t *part; /* scratch: max words */
    uint16_t *events; /* scratch: a pooled input's events (models with pooling) */
    uint8_t *seen; /* scratch, all zero between steps: windows already sent (max pooling), a gate's marks */
    /* Idle skipping (docs/fixed-point.md, "Idle skipping"): per layer, the neurons that are not
     * known to be at rest (their last update without input changed their state or spiked), in
     * awake + offset; n_awake[l] of them, or ESNN_AWAKE_ALL. A neuron at rest is a fixed point of
     * the update without input, so skipping it changes nothing. */
    uint16_t *awake;
    uint16_t *n_awake;
    uint16_t awake_layers; /* layers with n_awake != 0: none, and a step without input returns at once */
    uint32_t synops; /* synaptic events since the last reset */
    uint32_t neuron_updates; /* neuron updates performed since the last reset (skipped ones not counted) */
    const uint16_t *input; /* this step's input events (for a graph's connections from the input) */
    uint16_t n_input;
} esnn_state_t;

/* The contract's one rounding rule: floor((x + 2^(s-1)) / 2^s), s >= 1. */
int64_t esnn_rshift_round_half_up(int64_t x, unsigned s);
/* CRC-32 as zlib.crc32 (chain: esnn_crc32(previous, more, n)); for digests and persistence. */
uint32_t esnn_crc32(uint32_t crc, const uint8_t *data, uint32_t len);
/* One timestep's states mixed into a digest (sdk/edgesnn/firmware/golden.py): per layer v[0..n),
 * i[0..n) if current-based, the spike flags [0..n), each as 4 little-endian bytes. `spiked`
 * (the widest layer's size) holds the last layer's spike flags afterwards. */
uint32_t esnn_digest_step(const esnn_model_t *m, const esnn_state_t *s, uint8_t *spiked, uint32_t crc);

/* Zero every state and counter. */
void esnn_reset(const esnn_model_t *m, esnn_state_t *s);

/*
 * One timestep. `events` lists the input channels that spiked (each < n_inputs, any order,
 * no duplicates). A layer without input events (pooled) or recurrent spikes updates only its
 * awake neurons; one with none awake costs a load and a test. Afterwards the output layer's spikes are
 * s->spikes + m->layers[n_layers-1].offset, count s->n_spikes[n_layers-1].
 */
void esnn_step(const esnn_model_t *m, esnn_state_t *s, const uint16_t *events, uint16_t n_events);

/* One layer of one timestep (what esnn_step runs per layer); returns its spike count. */
uint16_t esnn_step_layer(const esnn_model_t *m, esnn_state_t *s, uint16_t l, const uint16_t *in, uint16_t n_in);

/* 1 when every layer is at rest (no neuron awake): a step without input would change nothing. */
int esnn_at_rest(const esnn_model_t *m, const esnn_state_t *s);

/* Readout spike_count: most spikes, then larger v, then lower index. */
uint16_t esnn_predict(const esnn_model_t *m, const esnn_state_t *s, const uint16_t *counts);

#endif /* ESNN_H */
