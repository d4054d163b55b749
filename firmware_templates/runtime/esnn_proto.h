/*
 * edgesnn serial protocol, device side (docs/protocol.md). Board-independent: bytes come in
 * through esnn_proto_rx(), replies go out through the write callback. No malloc, no float.
 *
 * Frame on the wire: COBS(header | payload | crc16) 0x00
 *   header: u8 version, u8 type, u8 seq, u8 flags, u16 payload length (little-endian)
 *   flags  : STEP requests only (ESNN_FLAG_*); 0 on every other message and on replies
 *   crc16 : CRC-16/CCITT-FALSE over header and payload, little-endian
 */
#ifndef ESNN_PROTO_H
#define ESNN_PROTO_H

#include <stdint.h>
#include "esnn.h"
#include "esnn_learn.h"
#include "esnn_decide.h"

/* 2: idempotent requests (the last reply is replayed for a repeated request), strictly
 * increasing sparse indices, STATS reports replays.
 * 3: continuous streams (ESNN_FLAG_STREAM): detections and a running digest of every state. */
#define ESNN_PROTO_VERSION 3u
#define ESNN_PROTO_HEADER 6u
#define ESNN_PROTO_CRC 2u

/* message types: requests < 0x80, replies = request | 0x80 */
enum {
    ESNN_MSG_HELLO = 0x01,
    ESNN_MSG_RESET = 0x02,
    ESNN_MSG_STEP_SPARSE = 0x03,
    ESNN_MSG_STEP_DENSE = 0x04,
    ESNN_MSG_RESULT = 0x05,
    ESNN_MSG_STATS = 0x06,
    ESNN_MSG_PING = 0x07,
    ESNN_MSG_PLASTICITY = 0x08,
    ESNN_MSG_LABEL = 0x09,
    ESNN_MSG_READ_WEIGHTS = 0x0a,
    ESNN_MSG_WRITE_WEIGHTS = 0x0b,
    ESNN_MSG_SAVE = 0x0c,
    ESNN_MSG_LOAD = 0x0d,
    ESNN_MSG_STEP_PCM = 0x0e, /* audio models: timesteps as int16 PCM through the front end */
    ESNN_MSG_ERROR = 0x7f
};

/* error codes carried by ESNN_MSG_ERROR | 0x80 */
enum {
    ESNN_ERR_CRC = 1, /* frame failed its CRC */
    ESNN_ERR_VERSION = 2, /* unknown protocol version */
    ESNN_ERR_TYPE = 3, /* unknown message type */
    ESNN_ERR_MALFORMED = 4, /* length or content inconsistent */
    ESNN_ERR_TOO_LARGE = 5, /* frame longer than the device's buffer */
    ESNN_ERR_INDEX = 6, /* input index >= n_inputs */
    ESNN_ERR_COBS = 7, /* invalid COBS encoding */
    ESNN_ERR_UNSUPPORTED = 8, /* this build or board cannot do that (no learning layer, no storage) */
    ESNN_ERR_PARAM = 9, /* a parameter is out of range */
    ESNN_ERR_STORE = 10, /* persistent storage failed or holds no valid weights */
    ESNN_ERR_ORDER = 11 /* sparse input indices not strictly increasing (a duplicate) */
};

/* capability bits in HELLO */
#define ESNN_CAP_TICKS 1u /* RESULT carries a tick count */
#define ESNN_CAP_ICOUNT 2u /* ticks are exact instruction counts x ticks_per_instr (emulated) */
#define ESNN_CAP_LEARN 4u /* a layer can learn on the device */
#define ESNN_CAP_PERSIST 8u /* learned weights can be saved to persistent storage */
#define ESNN_CAP_STEP_FLAGS 16u /* STEP requests take ESNN_FLAG_RESET and ESNN_FLAG_RESULT */
#define ESNN_CAP_STREAM 32u /* STEP requests take ESNN_FLAG_STREAM */
#define ESNN_CAP_DECISION 64u /* the model has a decision rule: stream replies carry detections */
#define ESNN_CAP_AUDIO 128u /* the model has an audio front end: STEP_PCM; HELLO ends with its rates */

/* flags of a STEP request: a whole sample in one exchange per frame, without RESET and RESULT
 * round trips (each saves the host a round trip and the device a frame) */
#define ESNN_FLAG_RESET 1u /* RESET before the frame's first timestep */
#define ESNN_FLAG_RESULT 2u /* the RESULT payload follows the timesteps' outputs in the reply */
/* continuous stream: after the outputs the reply carries the running CRC-32 of every state since
 * RESET, synaptic events and ticks since RESET, and the frame's detections (docs/protocol.md) */
#define ESNN_FLAG_STREAM 4u
#define ESNN_STREAM_TAIL 13u /* u32 digest, u32 synaptic events, u32 ticks, u8 detections */

/* Persistent storage: two slots of slot_bytes each (slot_bytes == 0: none). Byte-writable
 * stores (a file) leave erase NULL; flash stores erase a slot before it is written again, and
 * write each word of it at most once per erase, at 4-byte aligned offsets (hal/store_flash.c). */
typedef struct {
    uint32_t slot_bytes;
    int (*read)(uint8_t slot, uint32_t offset, uint8_t *dst, uint32_t n);
    int (*write)(uint8_t slot, uint32_t offset, const uint8_t *src, uint32_t n);
    int (*erase)(uint8_t slot);
} esnn_store_t;

typedef void (*esnn_write_fn)(const uint8_t *data, uint16_t len);
struct esnn_proto;
typedef void (*esnn_handler_fn)(struct esnn_proto *p, uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len);
typedef uint32_t (*esnn_ticks_fn)(void);

typedef struct esnn_proto {
    const esnn_model_t *model;
    esnn_state_t *state;
    const char *board;
    uint16_t capabilities;
    uint16_t ticks_per_instr_x10; /* e.g. 32 for 3.2 (CMSDK timer under -icount shift=7) */
    esnn_write_fn write;
    esnn_ticks_fn ticks;
    esnn_learn_t *learn; /* NULL: no learning layer in this build */
    esnn_handler_fn learning_handler; /* esnn_proto_learning, or NULL */
    /* esnn_step_learn and esnn_learn_reset when learning is built in (pointers, so that builds
     * without a learning layer do not link the plasticity code) */
    void (*learn_step)(const esnn_model_t *m, esnn_state_t *s, esnn_learn_t *ln, const uint16_t *events,
                       uint16_t n_events);
    void (*learn_reset)(const esnn_model_t *m, esnn_learn_t *ln);
    const esnn_store_t *store; /* NULL: no persistent storage */
    /* an audio model's front end (runtime/esnn_audio.c, wired by the application so that other
     * builds do not link it): afe_step turns one timestep of little-endian int16 PCM (pcm_per_step
     * samples) into the input events it returns the count of; afe_reset zeroes its state.
     * pcm_per_step 0: no front end, STEP_PCM is refused */
    uint16_t pcm_per_step;
    uint16_t sample_rate;
    uint16_t (*afe_step)(const uint8_t *pcm_le, uint16_t *events);
    void (*afe_reset)(void);
    /* buffers owned by the application, sized by ESNN_PROTO_MAX_FRAME */
    uint8_t *frame; /* the frame being received, decoded from COBS as its bytes arrive */
    uint8_t *tx; /* decoded reply */
    uint8_t *tx_enc; /* encoded reply to a frame that could not be attributed (seq 0) */
    uint8_t *last; /* encoded last reply to a request (ESNN_COBS_MAX(max_frame)), replayed
                         * when the same request (seq, type, CRC) arrives again */
    uint16_t *events; /* n_inputs scratch */
    uint16_t *counts; /* n_outputs: output spikes since RESET */
    uint16_t max_frame; /* decoded capacity of frame/tx */
    /* COBS decoding as bytes arrive: decoded bytes so far, data bytes left in the current block
     * (0: the next byte is a code byte), and whether a zero follows the block (its code was not
     * 0xff; the zero is written when the next block starts, so the last block's never is) */
    uint16_t rx_len;
    uint8_t cobs_left, cobs_zero;
    uint8_t overflow;
    /* counters since boot */
    uint32_t frames_ok, frames_bad, steps, replays;
    /* ticks the application spent on received bytes, from reading each to the end of its
     * handling (replies and timesteps included; waiting for bytes excluded): STATS reports it */
    uint64_t link_ticks;
    /* the request being handled, and the one the cached reply in `last` answers */
    uint16_t cur_crc, last_crc, last_len;
    uint8_t cur_type, last_seq, last_type, have_last;
    uint32_t sample_ticks;
    /* continuous streams: the model's decision rule (NULL: none), its scores (n_outputs) and
     * cool-down, a neuron's spike flags for the digest (max layer width), the running digest */
    const esnn_decision_t *decision;
    int32_t *scores;
    uint8_t *spiked;
    uint16_t cool;
    uint8_t settled; /* esnn_decide: the rule is at rest */
    uint32_t digest;
} esnn_proto_t;

/* Little-endian fields, shared by the protocol and persistence sources. */
static inline void esnn_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void esnn_put32(uint8_t *p, uint32_t v)
{
    esnn_put16(p, v);
    esnn_put16(p + 2, v >> 16);
}
static inline uint16_t esnn_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t esnn_get32(const uint8_t *p)
{
    return (uint32_t)esnn_get16(p) | ((uint32_t)esnn_get16(p + 2) << 16);
}

/* Encoded bound of a decoded frame of n bytes, delimiter included (replies are encoded whole). */
#define ESNN_COBS_MAX(n) ((n) + ((n) / 254u) + 2u)

void esnn_proto_init(esnn_proto_t *p);
/* Feed received bytes; complete frames are handled and answered through p->write. */
void esnn_proto_rx(esnn_proto_t *p, const uint8_t *data, uint16_t len);

/* A delimiter (the frame is handled and answered) or a byte with no room left for it (the
 * frame will be refused): esnn_proto_rx_byte's uncommon cases. */
void esnn_proto_rx_slow(esnn_proto_t *p, uint8_t b);

/* One received byte, decoded from COBS on arrival, with no call in the common cases: a data
 * byte is stored; a code byte starts a block, after writing the zero that ended the previous
 * one (a code byte after a 0xff block writes nothing, so it is taken even with the buffer
 * full: a frame of exactly max_frame bytes can end that way). esnn_proto_rx feeds its bytes
 * through here. */
static inline void esnn_proto_rx_byte(esnn_proto_t *p, uint8_t b)
{
    if (b != 0u) {
        if (p->cobs_left != 0u) {
            if (p->rx_len < p->max_frame) {
                p->frame[p->rx_len++] = b;
                p->cobs_left--;
                return;
            }
        } else if (!p->cobs_zero || p->rx_len < p->max_frame) {
            if (p->cobs_zero)
                p->frame[p->rx_len++] = 0u;
            p->cobs_left = (uint8_t)(b - 1u);
            p->cobs_zero = (uint8_t)(b != 0xffu);
            return;
        }
    }
    esnn_proto_rx_slow(p, b);
}

/* Replies, for message handlers outside esnn_proto.c (payload already in p->tx + header). */
void esnn_proto_send(esnn_proto_t *p, uint8_t type, uint8_t seq, uint16_t n);
void esnn_proto_error(esnn_proto_t *p, uint8_t seq, uint8_t code, uint16_t detail);
uint16_t esnn_proto_room(const esnn_proto_t *p);
/* The learning messages (esnn_proto_learn.c). */
void esnn_proto_learning(esnn_proto_t *p, uint8_t type, uint8_t seq, const uint8_t *in, uint16_t len);

/* Pure helpers, exposed for tests and fuzzing. */
uint16_t esnn_crc16(const uint8_t *data, uint16_t len);
/* Returns the decoded length, or -1 on invalid input or if it would exceed cap. */
int32_t esnn_cobs_decode(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t cap);
uint16_t esnn_cobs_encode(const uint8_t *in, uint16_t len, uint8_t *out);

/* Persistence of the learning layer's weights: two slots, CRC-32, sequence number. A write
 * that is cut off leaves the other slot, the last good weights, intact. Return 0 on success. */
#define ESNN_SLOT_HEADER 20u
int esnn_persist_save(const esnn_model_t *m, esnn_learn_t *ln, const esnn_store_t *st, uint32_t *seq_out);
int esnn_persist_load(const esnn_model_t *m, esnn_learn_t *ln, const esnn_store_t *st, uint32_t *seq_out);

#endif
