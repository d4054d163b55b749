/* edgesnn serial protocol, device side. See esnn_proto.h and docs/protocol.md. */
#include "esnn_proto.h"

#define FW_VERSION_MAJOR 0u
#define FW_VERSION_MINOR 1u

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xffff, MSB first) a nibble at a time: entry n is the
 * CRC register after shifting nibble n through it. 32 bytes of flash where a byte table took 512
 * (the runtime's flash goal; docs/howto-embed.md) for about 6 more instructions a byte, which a
 * UART at 115,200 baud (over 1,000 instructions a byte at 16 MHz) never notices. */
static const uint16_t crc_nibbles[16] = {0x0000u, 0x1021u, 0x2042u, 0x3063u, 0x4084u, 0x50a5u, 0x60c6u, 0x70e7u,
                                         0x8108u, 0x9129u, 0xa14au, 0xb16bu, 0xc18cu, 0xd1adu, 0xe1ceu, 0xf1efu};

uint16_t esnn_crc16(const uint8_t *data, uint16_t len)
{
    uint16_t crc = 0xffffu, i;
    for (i = 0; i < len; ++i) {
        crc = (uint16_t)(crc ^ (uint16_t)((uint16_t)data[i] << 8));
        crc = (uint16_t)((uint16_t)(crc << 4) ^ crc_nibbles[crc >> 12]);
        crc = (uint16_t)((uint16_t)(crc << 4) ^ crc_nibbles[crc >> 12]);
    }
    return crc;
}

int32_t esnn_cobs_decode(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t cap)
{
    uint16_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = in[i++], k;
        if (code == 0u)
            return -1;
        for (k = 1; k < code; ++k) {
            if (i >= len || o >= cap || in[i] == 0u)
                return -1;
            out[o++] = in[i++];
        }
        if (code != 0xffu && i < len) {
            if (o >= cap)
                return -1;
            out[o++] = 0u;
        }
    }
    return (int32_t)o;
}

uint16_t esnn_cobs_encode(const uint8_t *in, uint16_t len, uint8_t *out)
{
    uint16_t i, o = 1, code_at = 0;
    uint8_t code = 1;
    for (i = 0; i < len; ++i) {
        if (in[i] == 0u) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xffu) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out[o++] = 0u; /* frame delimiter */
    return o;
}

static void send(esnn_proto_t *p, uint8_t type, uint8_t seq, uint16_t n);
static void send_error(esnn_proto_t *p, uint8_t seq, uint8_t code, uint16_t detail);
static uint16_t reply_room(const esnn_proto_t *p);

void esnn_proto_send(esnn_proto_t *p, uint8_t type, uint8_t seq, uint16_t n) { send(p, type, seq, n); }
void esnn_proto_error(esnn_proto_t *p, uint8_t seq, uint8_t code, uint16_t detail) { send_error(p, seq, code, detail); }
uint16_t esnn_proto_room(const esnn_proto_t *p) { return reply_room(p); }

/* A reply to an attributed request (seq != 0) is encoded into `last` and kept, so that a
 * retransmitted request (the host's reply was lost or damaged) gets the same bytes again
 * without being executed twice. Replies about damaged frames (seq 0) use tx_enc. */
static void send(esnn_proto_t *p, uint8_t type, uint8_t seq, uint16_t n)
{
    uint8_t *t = p->tx;
    uint8_t *enc = (seq != 0u && p->last != 0) ? p->last : p->tx_enc;
    uint16_t crc, n_enc;
    t[0] = ESNN_PROTO_VERSION;
    t[1] = type;
    t[2] = seq;
    t[3] = 0u;
    esnn_put16(t + 4, n);
    crc = esnn_crc16(t, (uint16_t)(ESNN_PROTO_HEADER + n));
    esnn_put16(t + ESNN_PROTO_HEADER + n, crc);
    n_enc = esnn_cobs_encode(t, (uint16_t)(ESNN_PROTO_HEADER + n + ESNN_PROTO_CRC), enc);
    if (enc == p->last) {
        p->last_len = n_enc;
        p->last_seq = seq;
        p->last_type = p->cur_type;
        p->last_crc = p->cur_crc;
        p->have_last = 1u;
    }
    p->write(enc, n_enc);
}

static void send_error(esnn_proto_t *p, uint8_t seq, uint8_t code, uint16_t detail)
{
    uint8_t *o = p->tx + ESNN_PROTO_HEADER;
    o[0] = code;
    esnn_put16(o + 1, detail);
    send(p, ESNN_MSG_ERROR | 0x80u, seq, 3u);
}

/* Run one timestep and append its output-spike bitmap to the reply at *n. */
static void step_and_report(esnn_proto_t *p, uint16_t n_events, uint16_t *n)
{
    const esnn_model_t *m = p->model;
    const esnn_layer_t *L = &m->layers[m->n_layers - 1u];
    uint8_t *o = p->tx + ESNN_PROTO_HEADER + *n;
    uint16_t k, bytes = (uint16_t)((m->n_outputs + 7u) / 8u);
    uint32_t t0 = p->ticks ? p->ticks() : 0u;
    if (p->learn != 0 && p->learn->cfg.mode != ESNN_LEARN_OFF)
        p->learn_step(m, p->state, p->learn, p->events, n_events);
    else
        esnn_step(m, p->state, p->events, n_events);
    if (p->ticks)
        p->sample_ticks += p->ticks() - t0;
    for (k = 0; k < bytes; ++k)
        o[k] = 0u;
    for (k = 0; k < p->state->n_spikes[m->n_layers - 1u]; ++k) {
        uint16_t j = p->state->spikes[L->offset + k];
        o[j >> 3] = (uint8_t)(o[j >> 3] | (1u << (j & 7u)));
        p->counts[j]++;
    }
    *n = (uint16_t)(*n + bytes);
    p->steps++;
}

/* The decision rule on this step's output spikes (its ticks count with the model's); returns
 * the class detected or ESNN_NO_DETECTION. */
static int32_t decide(esnn_proto_t *p)
{
    const esnn_model_t *m = p->model;
    const esnn_layer_t *L = &m->layers[m->n_layers - 1u];
    int32_t c;
    uint32_t t0;
    if (p->decision == 0)
        return ESNN_NO_DETECTION;
    t0 = p->ticks ? p->ticks() : 0u;
    c = esnn_decide(p->decision, p->scores, &p->cool, &p->settled, m->n_outputs, p->state->spikes + L->offset,
                    p->state->n_spikes[m->n_layers - 1u]);
    if (p->ticks)
        p->sample_ticks += p->ticks() - t0;
    return c;
}

static uint16_t reply_room(const esnn_proto_t *p)
{
    return (uint16_t)(p->max_frame - ESNN_PROTO_HEADER - ESNN_PROTO_CRC);
}

/* RESET: every state, the output counts and the sample's ticks to zero. */
static void reset_sample(esnn_proto_t *p)
{
    uint16_t k;
    esnn_reset(p->model, p->state);
    if (p->learn != 0)
        p->learn_reset(p->model, p->learn);
    if (p->afe_reset != 0)
        p->afe_reset();
    for (k = 0; k < p->model->n_outputs; ++k) {
        p->counts[k] = 0;
        if (p->scores != 0)
            p->scores[k] = 0;
    }
    p->sample_ticks = 0;
    p->cool = 0;
    p->settled = 0u;
    p->digest = 0;
}

/* RESULT's payload at o; returns its length, result_bytes(m). */
static uint16_t result_bytes(const esnn_model_t *m) { return (uint16_t)(14u + 2u * m->n_outputs); }
static uint16_t put_result(const esnn_proto_t *p, uint8_t *o)
{
    const esnn_model_t *m = p->model;
    uint16_t k;
    esnn_put16(o, esnn_predict(m, p->state, p->counts));
    esnn_put32(o + 2, p->state->synops);
    esnn_put32(o + 6, p->state->neuron_updates);
    esnn_put32(o + 10, p->sample_ticks);
    for (k = 0; k < m->n_outputs; ++k)
        esnn_put16(o + 14 + 2u * k, p->counts[k]);
    return result_bytes(m);
}

static void handle_step(esnn_proto_t *p, uint8_t type, uint8_t seq, uint8_t flags, const uint8_t *in, uint16_t len)
{
    const esnn_model_t *m = p->model;
    uint16_t n_steps, s, pos = 1, out = 1;
    uint16_t out_bytes = (uint16_t)((m->n_outputs + 7u) / 8u);
    uint16_t in_bytes = (uint16_t)((m->n_inputs + 7u) / 8u);
    uint32_t with_result = (flags & ESNN_FLAG_RESULT) ? result_bytes(m) : 0u;
    uint32_t stream_bytes = 0u;
    uint8_t *det;
    uint16_t n_det = 0;
    if (len < 1u) {
        send_error(p, seq, ESNN_ERR_MALFORMED, 0);
        return;
    }
    n_steps = in[0];
    det = p->tx + ESNN_PROTO_HEADER + 1u + (uint32_t)n_steps * out_bytes + ESNN_STREAM_TAIL;
    if (flags & ESNN_FLAG_STREAM) /* worst case: a detection at every step */
        stream_bytes = ESNN_STREAM_TAIL + 2u * (uint32_t)n_steps;
    if (1u + (uint32_t)n_steps * out_bytes + stream_bytes + with_result > reply_room(p)) {
        send_error(p, seq, ESNN_ERR_TOO_LARGE, n_steps);
        return;
    }
    /* validate the whole frame before running any step: a bad frame changes no state */
    if (type == ESNN_MSG_STEP_PCM && 1u + 2u * (uint32_t)p->pcm_per_step * n_steps != len) {
        send_error(p, seq, ESNN_ERR_MALFORMED, len);
        return;
    }
    for (s = 0; s < n_steps && type != ESNN_MSG_STEP_PCM; ++s) {
        if (type == ESNN_MSG_STEP_DENSE) {
            if ((uint32_t)pos + in_bytes > len) {
                send_error(p, seq, ESNN_ERR_MALFORMED, s);
                return;
            }
            pos = (uint16_t)(pos + in_bytes);
        } else {
            uint16_t c, k, prev = 0;
            if ((uint32_t)pos + 2u > len) {
                send_error(p, seq, ESNN_ERR_MALFORMED, s);
                return;
            }
            c = esnn_get16(in + pos);
            pos = (uint16_t)(pos + 2u);
            if (c > m->n_inputs || (uint32_t)pos + 2u * c > len) {
                send_error(p, seq, ESNN_ERR_MALFORMED, s);
                return;
            }
            for (k = 0; k < c; ++k) {
                uint16_t idx = esnn_get16(in + pos + 2u * k);
                if (idx >= m->n_inputs) {
                    send_error(p, seq, ESNN_ERR_INDEX, idx);
                    return;
                }
                if (k > 0u && idx <= prev) /* a repeated index would count its input twice */
                {
                    send_error(p, seq, ESNN_ERR_ORDER, idx);
                    return;
                }
                prev = idx;
            }
            pos = (uint16_t)(pos + 2u * c);
        }
    }
    if (type != ESNN_MSG_STEP_PCM && pos != len) {
        send_error(p, seq, ESNN_ERR_MALFORMED, pos);
        return;
    }
    if (flags & ESNN_FLAG_RESET)
        reset_sample(p);
    pos = 1;
    for (s = 0; s < n_steps; ++s) {
        uint16_t ne = 0, k;
        if (type == ESNN_MSG_STEP_PCM) {
            /* the front end's time counts with the model's: it runs for every timestep */
            uint32_t t0 = p->ticks ? p->ticks() : 0u;
            ne = p->afe_step(in + pos, p->events);
            if (p->ticks)
                p->sample_ticks += p->ticks() - t0;
            pos = (uint16_t)(pos + 2u * p->pcm_per_step);
        } else if (type == ESNN_MSG_STEP_DENSE) {
            /* byte by byte, skipping silent bytes; bits past n_inputs in the last byte are
             * padding and ignored */
            const uint8_t *map = in + pos;
            uint16_t *ev = p->events;
            unsigned n_ev = 0, kb;
            for (kb = 0; kb < in_bytes; ++kb) {
                unsigned j = 8u * kb, bits = map[kb];
                if (kb + 1u == in_bytes && (m->n_inputs & 7u))
                    bits &= (1u << (m->n_inputs & 7u)) - 1u;
#if defined(__ARM_FEATURE_CLZ) || defined(__x86_64__) || defined(__aarch64__)
                /* one iteration per set bit where counting trailing zeros is an instruction
                 * (rbit + clz on ARMv7-M; ARMv6-M and RV32IMAC would call libgcc) */
                for (; bits; bits &= bits - 1u)
                    ev[n_ev++] = (uint16_t)(j + (unsigned)__builtin_ctz(bits));
#else
                for (; bits; bits >>= 1, ++j)
                    if (bits & 1u)
                        ev[n_ev++] = (uint16_t)j;
#endif
            }
            ne = (uint16_t)n_ev;
            pos = (uint16_t)(pos + in_bytes);
        } else {
            uint16_t c = esnn_get16(in + pos);
            pos = (uint16_t)(pos + 2u);
            for (k = 0; k < c; ++k)
                p->events[ne++] = esnn_get16(in + pos + 2u * k);
            pos = (uint16_t)(pos + 2u * c);
        }
        step_and_report(p, ne, &out);
        if (flags & ESNN_FLAG_STREAM) {
            /* detections go straight after the frame's outputs and the stream tail, where the
             * reply keeps them (every output bitmap comes first, so nothing overwrites them) */
            int32_t c = decide(p);
            if (c != ESNN_NO_DETECTION) {
                det[2u * n_det] = (uint8_t)s;
                det[2u * n_det + 1u] = (uint8_t)c;
                n_det++;
            }
            p->digest = esnn_digest_step(m, p->state, p->spiked, p->digest);
        }
    }
    p->tx[ESNN_PROTO_HEADER] = (uint8_t)n_steps;
    if (flags & ESNN_FLAG_STREAM) {
        uint8_t *o = p->tx + ESNN_PROTO_HEADER + out; /* == det - ESNN_STREAM_TAIL */
        esnn_put32(o, p->digest);
        esnn_put32(o + 4, p->state->synops);
        esnn_put32(o + 8, p->sample_ticks);
        o[12] = (uint8_t)n_det;
        out = (uint16_t)(out + ESNN_STREAM_TAIL + 2u * n_det);
    }
    if (with_result)
        out = (uint16_t)(out + put_result(p, p->tx + ESNN_PROTO_HEADER + out));
    send(p, type | 0x80u, seq, out);
}

static void handle(esnn_proto_t *p, const uint8_t *f, uint16_t len)
{
    const esnn_model_t *m = p->model;
    uint8_t *o = p->tx + ESNN_PROTO_HEADER;
    uint16_t n, plen, k;
    uint8_t type, seq, flags;
    if (len < ESNN_PROTO_HEADER + ESNN_PROTO_CRC) {
        p->frames_bad++;
        {
            send_error(p, 0, ESNN_ERR_MALFORMED, len);
            return;
        }
    }
    if (esnn_crc16(f, (uint16_t)(len - 2u)) != esnn_get16(f + len - 2u)) {
        p->frames_bad++;
        {
            send_error(p, 0, ESNN_ERR_CRC, len);
            return;
        }
    }
    type = f[1];
    seq = f[2];
    plen = esnn_get16(f + 4);
    k = esnn_get16(f + len - 2u);
    if (seq != 0u && p->have_last && seq == p->last_seq && type == p->last_type && k == p->last_crc) {
        p->replays++; /* the host did not get our reply: send it again, do not run it again */
        p->write(p->last, p->last_len);
        return;
    }
    p->cur_type = type;
    p->cur_crc = k;
    if (f[0] != ESNN_PROTO_VERSION) {
        p->frames_bad++;
        {
            send_error(p, seq, ESNN_ERR_VERSION, f[0]);
            return;
        }
    }
    if ((uint32_t)plen + ESNN_PROTO_HEADER + ESNN_PROTO_CRC != len) {
        p->frames_bad++;
        {
            send_error(p, seq, ESNN_ERR_MALFORMED, plen);
            return;
        }
    }
    flags = f[3];
    if (flags &
        ~((type == ESNN_MSG_STEP_SPARSE || type == ESNN_MSG_STEP_DENSE || type == ESNN_MSG_STEP_PCM)
              ? ESNN_FLAG_RESET | ESNN_FLAG_RESULT | ((p->capabilities & ESNN_CAP_STREAM) ? ESNN_FLAG_STREAM : 0u)
              : 0u)) {
        p->frames_bad++;
        send_error(p, seq, ESNN_ERR_PARAM, flags); /* a flag this message does not take */
        return;
    }
    p->frames_ok++;
    f += ESNN_PROTO_HEADER;
    switch (type) {
    case ESNN_MSG_HELLO: {
        uint16_t name_len = 0;
        while (p->board[name_len] && name_len < 32u)
            ++name_len;
        o[0] = FW_VERSION_MAJOR;
        o[1] = FW_VERSION_MINOR;
        o[2] = (uint8_t)m->abi_version;
        o[3] = (uint8_t)m->contract_version;
        esnn_put32(o + 4, m->hash32);
        esnn_put16(o + 8, m->n_inputs);
        esnn_put16(o + 10, m->n_outputs);
        o[12] = (uint8_t)m->n_layers;
        esnn_put16(o + 13, p->capabilities);
        esnn_put16(o + 15, p->max_frame);
        esnn_put16(o + 17, p->ticks_per_instr_x10);
        o[19] = (uint8_t)(p->learn != 0 ? p->learn->layer : 0xffu);
        o[20] = (uint8_t)name_len;
        for (k = 0; k < name_len; ++k)
            o[21 + k] = (uint8_t)p->board[k];
        n = (uint16_t)(21u + name_len);
        if (p->capabilities & ESNN_CAP_AUDIO) { /* after the name: hosts of before skip it */
            esnn_put16(o + n, p->pcm_per_step);
            esnn_put16(o + n + 2u, p->sample_rate);
            n = (uint16_t)(n + 4u);
        }
        send(p, ESNN_MSG_HELLO | 0x80u, seq, n);
        return;
    }
    case ESNN_MSG_RESET:
        reset_sample(p);
        {
            send(p, ESNN_MSG_RESET | 0x80u, seq, 0);
            return;
        }
    case ESNN_MSG_STEP_PCM:
        if (p->pcm_per_step == 0u || p->afe_step == 0) {
            send_error(p, seq, ESNN_ERR_UNSUPPORTED, type);
            return;
        }
        handle_step(p, type, seq, flags, f, plen);
        return;
    case ESNN_MSG_STEP_SPARSE:
    case ESNN_MSG_STEP_DENSE: {
        handle_step(p, type, seq, flags, f, plen);
        return;
    }
    case ESNN_MSG_RESULT:
        if (result_bytes(m) > reply_room(p)) {
            send_error(p, seq, ESNN_ERR_TOO_LARGE, 0);
            return;
        }
        {
            send(p, ESNN_MSG_RESULT | 0x80u, seq, put_result(p, o));
            return;
        }
    case ESNN_MSG_STATS:
        esnn_put32(o, p->frames_ok);
        esnn_put32(o + 4, p->frames_bad);
        esnn_put32(o + 8, p->steps);
        esnn_put32(o + 12, p->replays);
        esnn_put32(o + 16, (uint32_t)p->link_ticks);
        esnn_put32(o + 20, (uint32_t)(p->link_ticks >> 32));
        {
            send(p, ESNN_MSG_STATS | 0x80u, seq, 24u);
            return;
        }
    case ESNN_MSG_PING:
        n = plen < reply_room(p) ? plen : reply_room(p);
        for (k = 0; k < n; ++k)
            o[k] = f[k];
        {
            send(p, ESNN_MSG_PING | 0x80u, seq, n);
            return;
        }
    case ESNN_MSG_PLASTICITY:
    case ESNN_MSG_LABEL:
    case ESNN_MSG_READ_WEIGHTS:
    case ESNN_MSG_WRITE_WEIGHTS:
    case ESNN_MSG_SAVE:
    case ESNN_MSG_LOAD:
        if (p->learning_handler != 0)
            p->learning_handler(p, type, seq, f, plen);
        else
            send_error(p, seq, ESNN_ERR_UNSUPPORTED, type);
        return;
    default: {
        send_error(p, seq, ESNN_ERR_TYPE, type);
        return;
    }
    }
}

void esnn_proto_init(esnn_proto_t *p)
{
    p->rx_len = 0;
    p->cobs_left = p->cobs_zero = 0;
    p->overflow = 0;
    p->capabilities = (uint16_t)(p->capabilities | ESNN_CAP_STEP_FLAGS);
    if (p->scores != 0 && p->spiked != 0)
        p->capabilities = (uint16_t)(p->capabilities | ESNN_CAP_STREAM);
    if (p->decision != 0)
        p->capabilities = (uint16_t)(p->capabilities | ESNN_CAP_DECISION);
    if (p->pcm_per_step != 0u && p->afe_step != 0)
        p->capabilities = (uint16_t)(p->capabilities | ESNN_CAP_AUDIO);
    p->cool = 0;
    p->settled = 0u;
    p->digest = 0;
    p->frames_ok = p->frames_bad = p->steps = p->sample_ticks = p->replays = 0;
    p->link_ticks = 0;
    p->have_last = 0;
    p->cur_crc = p->last_crc = p->last_len = 0;
    p->cur_type = p->last_seq = p->last_type = 0;
}

void esnn_proto_rx_slow(esnn_proto_t *p, uint8_t b)
{
    if (b != 0u) { /* no room left: the frame is refused at its delimiter */
        p->overflow = 1;
        return;
    }
    /* delimiter: a complete frame (or nothing between two delimiters, which is skipped) */
    if (p->overflow) {
        p->frames_bad++;
        send_error(p, 0, ESNN_ERR_TOO_LARGE, p->rx_len);
    } else if (p->cobs_left != 0u) { /* a block cut short: its code promised more bytes */
        p->frames_bad++;
        send_error(p, 0, ESNN_ERR_COBS, p->rx_len);
    } else if (p->rx_len > 0u || p->cobs_zero) {
        handle(p, p->frame, p->rx_len);
    }
    p->rx_len = 0;
    p->cobs_left = p->cobs_zero = 0;
    p->overflow = 0;
}

void esnn_proto_rx(esnn_proto_t *p, const uint8_t *data, uint16_t len)
{
    uint16_t i;
    for (i = 0; i < len; ++i)
        esnn_proto_rx_byte(p, data[i]);
}
