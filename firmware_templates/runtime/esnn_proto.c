/* edgesnn serial protocol, device side. See esnn_proto.h and docs/protocol.md. */
#include "esnn_proto.h"

#define FW_VERSION_MAJOR 0u
#define FW_VERSION_MINOR 1u

uint16_t esnn_crc16(const uint8_t *data, uint16_t len)
{
    uint16_t crc = 0xffffu, i;
    for (i = 0; i < len; ++i) {
        uint8_t b;
        crc = (uint16_t)(crc ^ (uint16_t)(data[i] << 8));
        for (b = 0; b < 8u; ++b)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
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

static uint16_t reply_room(const esnn_proto_t *p)
{
    return (uint16_t)(p->max_frame - ESNN_PROTO_HEADER - ESNN_PROTO_CRC);
}

static void handle_step(esnn_proto_t *p, uint8_t type, uint8_t seq, const uint8_t *in, uint16_t len)
{
    const esnn_model_t *m = p->model;
    uint16_t n_steps, s, pos = 1, out = 1;
    uint16_t out_bytes = (uint16_t)((m->n_outputs + 7u) / 8u);
    uint16_t in_bytes = (uint16_t)((m->n_inputs + 7u) / 8u);
    if (len < 1u) {
        send_error(p, seq, ESNN_ERR_MALFORMED, 0);
        return;
    }
    n_steps = in[0];
    if (1u + (uint32_t)n_steps * out_bytes > reply_room(p)) {
        send_error(p, seq, ESNN_ERR_TOO_LARGE, n_steps);
        return;
    }
    /* validate the whole frame before running any step: a bad frame changes no state */
    for (s = 0; s < n_steps; ++s) {
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
    if (pos != len) {
        send_error(p, seq, ESNN_ERR_MALFORMED, pos);
        return;
    }
    pos = 1;
    for (s = 0; s < n_steps; ++s) {
        uint16_t ne = 0, k;
        if (type == ESNN_MSG_STEP_DENSE) {
            for (k = 0; k < m->n_inputs; ++k)
                if (in[pos + (k >> 3)] & (1u << (k & 7u)))
                    p->events[ne++] = k;
            pos = (uint16_t)(pos + in_bytes);
        } else {
            uint16_t c = esnn_get16(in + pos);
            pos = (uint16_t)(pos + 2u);
            for (k = 0; k < c; ++k)
                p->events[ne++] = esnn_get16(in + pos + 2u * k);
            pos = (uint16_t)(pos + 2u * c);
        }
        step_and_report(p, ne, &out);
    }
    p->tx[ESNN_PROTO_HEADER] = (uint8_t)n_steps;
    send(p, type | 0x80u, seq, out);
}

static void handle(esnn_proto_t *p, const uint8_t *f, uint16_t len)
{
    const esnn_model_t *m = p->model;
    uint8_t *o = p->tx + ESNN_PROTO_HEADER;
    uint16_t n, plen, k;
    uint8_t type, seq;
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
        {
            send(p, ESNN_MSG_HELLO | 0x80u, seq, (uint16_t)(21u + name_len));
            return;
        }
    }
    case ESNN_MSG_RESET:
        esnn_reset(m, p->state);
        if (p->learn != 0)
            p->learn_reset(m, p->learn);
        for (k = 0; k < m->n_outputs; ++k)
            p->counts[k] = 0;
        p->sample_ticks = 0;
        {
            send(p, ESNN_MSG_RESET | 0x80u, seq, 0);
            return;
        }
    case ESNN_MSG_STEP_SPARSE:
    case ESNN_MSG_STEP_DENSE: {
        handle_step(p, type, seq, f, plen);
        return;
    }
    case ESNN_MSG_RESULT:
        if (2u * m->n_outputs + 14u > reply_room(p)) {
            send_error(p, seq, ESNN_ERR_TOO_LARGE, 0);
            return;
        }
        esnn_put16(o, esnn_predict(m, p->state, p->counts));
        esnn_put32(o + 2, p->state->synops);
        esnn_put32(o + 6, p->state->neuron_updates);
        esnn_put32(o + 10, p->sample_ticks);
        for (k = 0; k < m->n_outputs; ++k)
            esnn_put16(o + 14 + 2u * k, p->counts[k]);
        {
            send(p, ESNN_MSG_RESULT | 0x80u, seq, (uint16_t)(14u + 2u * m->n_outputs));
            return;
        }
    case ESNN_MSG_STATS:
        esnn_put32(o, p->frames_ok);
        esnn_put32(o + 4, p->frames_bad);
        esnn_put32(o + 8, p->steps);
        esnn_put32(o + 12, p->replays);
        {
            send(p, ESNN_MSG_STATS | 0x80u, seq, 16u);
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
    p->overflow = 0;
    p->frames_ok = p->frames_bad = p->steps = p->ticks_total = p->sample_ticks = p->replays = 0;
    p->have_last = 0;
    p->cur_crc = p->last_crc = p->last_len = 0;
    p->cur_type = p->last_seq = p->last_type = 0;
}

void esnn_proto_rx(esnn_proto_t *p, const uint8_t *data, uint16_t len)
{
    uint16_t i;
    uint16_t enc_cap = (uint16_t)ESNN_COBS_MAX(p->max_frame);
    for (i = 0; i < len; ++i) {
        uint8_t b = data[i];
        if (b != 0u) {
            if (p->rx_len < enc_cap)
                p->rx[p->rx_len++] = b;
            else
                p->overflow = 1;
            continue;
        }
        /* delimiter: a complete frame (or noise between frames) */
        if (p->overflow) {
            p->frames_bad++;
            send_error(p, 0, ESNN_ERR_TOO_LARGE, p->rx_len);
        } else if (p->rx_len > 0u) {
            int32_t n = esnn_cobs_decode(p->rx, p->rx_len, p->frame, p->max_frame);
            if (n < 0) {
                p->frames_bad++;
                send_error(p, 0, ESNN_ERR_COBS, p->rx_len);
            } else {
                handle(p, p->frame, (uint16_t)n);
            }
        }
        p->rx_len = 0;
        p->overflow = 0;
    }
}
