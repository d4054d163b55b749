/* See device_link.h. */
#include "device_link.h"

static esnn_buffers_t buffers;
static esnn_state_t state;
static esnn_proto_t proto;
static uint8_t frame[ESNN_PROTO_MAX_FRAME];
static uint8_t tx[ESNN_PROTO_MAX_FRAME];
static uint8_t tx_enc[ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME)];
static uint8_t last[ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME)];
static uint16_t events[ESNN_MODEL_N_INPUTS];
static uint16_t counts[ESNN_MODEL_N_OUTPUTS];
static int32_t scores[ESNN_MODEL_N_OUTPUTS];
static uint8_t spiked[ESNN_MODEL_MAX_LAYER_WIDTH];
#if ESNN_MODEL_LEARN_LAYER >= 0
static int32_t x_pre[ESNN_MODEL_LEARN_N_IN];
static int32_t x_post[ESNN_MODEL_LEARN_N_OUT];
static esnn_learn_t learn;
#endif

#if ESNN_MODEL_HAS_AFE
static esnn_afe_state_t afe_state;
static int16_t afe_pcm[ESNN_MODEL_AFE_SAMPLES_PER_STEP];

/* One timestep of PCM (little-endian int16, possibly unaligned in the frame) through the front
 * end: its spikes become the timestep's input events. */
static uint16_t afe_step(const uint8_t *pcm_le, uint16_t *ev)
{
    uint8_t bits[(ESNN_MODEL_N_INPUTS + 7u) / 8u];
    uint16_t k, n = 0;
    for (k = 0; k < ESNN_MODEL_AFE_SAMPLES_PER_STEP; ++k)
        afe_pcm[k] = (int16_t)esnn_get16(pcm_le + 2u * k);
    (void)esnn_afe_push(&esnn_model_afe, &afe_state, afe_pcm, ESNN_MODEL_AFE_SAMPLES_PER_STEP, bits, 1u);
    for (k = 0; k < ESNN_MODEL_N_INPUTS; ++k)
        if (bits[k >> 3] & (1u << (k & 7u)))
            ev[n++] = k;
    return n;
}

static void afe_reset(void) { esnn_afe_reset(&afe_state); }
#endif

ESNN_STATIC_ASSERT(frame_fits_u16, ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME) <= 65535u);

esnn_proto_t *device_link_setup(const char *board, esnn_write_fn write)
{
    esnn_bind(&state, &buffers);
    proto.model = &esnn_model;
    proto.state = &state;
    proto.board = board;
    proto.write = write;
    proto.ticks = 0;
    proto.capabilities = 0;
    proto.ticks_per_instr_x10 = 0;
    proto.frame = frame;
    proto.tx = tx;
    proto.tx_enc = tx_enc;
    proto.last = last;
    proto.events = events;
    proto.counts = counts;
    proto.scores = scores;
    proto.spiked = spiked;
#if ESNN_MODEL_HAS_DECISION
    proto.decision = &esnn_model_decision;
#else
    proto.decision = 0;
#endif
    proto.max_frame = ESNN_PROTO_MAX_FRAME;
#if ESNN_MODEL_HAS_AFE
    esnn_afe_reset(&afe_state);
    proto.pcm_per_step = (uint16_t)ESNN_MODEL_AFE_SAMPLES_PER_STEP;
    proto.sample_rate = (uint16_t)ESNN_MODEL_AFE_SAMPLE_RATE;
    proto.afe_step = afe_step;
    proto.afe_reset = afe_reset;
#else
    proto.pcm_per_step = 0;
    proto.sample_rate = 0;
    proto.afe_step = 0;
    proto.afe_reset = 0;
#endif
    proto.store = 0;
#if ESNN_MODEL_LEARN_LAYER >= 0
    learn.layer = (uint16_t)ESNN_MODEL_LEARN_LAYER;
    learn.w = esnn_learn_rows;
    learn.x_pre = x_pre;
    learn.x_post = x_post;
    learn.label = ESNN_NO_LABEL;
    learn.cfg.mode = ESNN_LEARN_OFF;
    esnn_learn_reset(&esnn_model, &learn);
    proto.learn = &learn;
    proto.learning_handler = esnn_proto_learning;
    proto.learn_step = esnn_step_learn;
    proto.learn_reset = esnn_learn_reset;
    proto.capabilities = ESNN_CAP_LEARN;
#else
    proto.learn = 0;
    proto.learning_handler = 0;
    proto.learn_step = 0;
    proto.learn_reset = 0;
#endif
    esnn_proto_init(&proto);
    return &proto;
}
