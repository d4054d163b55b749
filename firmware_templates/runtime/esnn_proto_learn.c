/*
 * Protocol messages of on-device learning (PLASTICITY, LABEL, READ/WRITE_WEIGHTS, SAVE, LOAD).
 * Linked only into builds with a learning layer, so the plain inference runtime stays small.
 */
#include "esnn_proto.h"

static int32_t sget16(const uint8_t *p)
{
    uint16_t u = esnn_get16(p);
    return u >= 0x8000u ? (int32_t)u - 65536 : (int32_t)u;
}

void esnn_proto_learning(esnn_proto_t *p, uint8_t type, uint8_t seq, const uint8_t *in, uint16_t len)
{
    const esnn_model_t *m = p->model;
    esnn_learn_t *ln = p->learn;
    uint8_t *o = p->tx + ESNN_PROTO_HEADER;
    uint32_t seqno = 0;
    if (ln == 0) {
        esnn_proto_error(p, seq, ESNN_ERR_UNSUPPORTED, type);
        return;
    }
    {
        const esnn_layer_t *L = &m->layers[ln->layer];
        uint32_t total = (uint32_t)L->n_in * L->n_out, off, k, n;
        switch (type) {
        case ESNN_MSG_PLASTICITY: {
            esnn_plasticity_t c;
            if (len != 22u) {
                esnn_proto_error(p, seq, ESNN_ERR_MALFORMED, len);
                return;
            }
            c.mode = in[0];
            c.lr_shift = in[1];
            c.alpha_pre = (int32_t)esnn_get32(in + 2);
            c.alpha_post = (int32_t)esnn_get32(in + 6);
            c.a_pre = esnn_get16(in + 10);
            c.a_post = esnn_get16(in + 12);
            c.eta_plus = esnn_get16(in + 14);
            c.eta_minus = esnn_get16(in + 16);
            c.w_min = sget16(in + 18);
            c.w_max = sget16(in + 20);
            if (c.mode > ESNN_LEARN_THREE_FACTOR || c.lr_shift > 30u || c.alpha_pre < 0 || c.alpha_pre > 65536 ||
                c.alpha_post < 0 || c.alpha_post > 65536 || c.w_min > c.w_max || c.w_min < -m->weight_limit ||
                c.w_max > m->weight_limit) {
                esnn_proto_error(p, seq, ESNN_ERR_PARAM, 0);
                return;
            }
            ln->cfg = c;
            esnn_proto_send(p, type | 0x80u, seq, 0);
            return;
        }
        case ESNN_MSG_LABEL:
            if (len != 2u) {
                esnn_proto_error(p, seq, ESNN_ERR_MALFORMED, len);
                return;
            }
            ln->label = sget16(in);
            esnn_proto_send(p, type | 0x80u, seq, 0);
            return;
        case ESNN_MSG_READ_WEIGHTS:
            if (len != 6u) {
                esnn_proto_error(p, seq, ESNN_ERR_MALFORMED, len);
                return;
            }
            off = esnn_get32(in);
            n = esnn_get16(in + 4);
            if (off > total || n > total - off || 6u + n > esnn_proto_room(p)) {
                esnn_proto_error(p, seq, ESNN_ERR_PARAM, 0);
                return;
            }
            esnn_put32(o, off);
            esnn_put16(o + 4, n);
            for (k = 0; k < n; ++k)
                o[6 + k] =
                    (uint8_t)esnn_learn_get(m, ln, (uint16_t)((off + k) / L->n_in), (uint16_t)((off + k) % L->n_in));
            esnn_proto_send(p, type | 0x80u, seq, (uint16_t)(6u + n));
            return;
        case ESNN_MSG_WRITE_WEIGHTS:
            if (len < 4u) {
                esnn_proto_error(p, seq, ESNN_ERR_MALFORMED, len);
                return;
            }
            off = esnn_get32(in);
            n = (uint32_t)len - 4u;
            if (off > total || n > total - off) {
                esnn_proto_error(p, seq, ESNN_ERR_PARAM, 0);
                return;
            }
            for (k = 0; k < n; ++k) { /* validate all before writing any */
                int32_t w = in[4 + k] >= 128u ? (int32_t)in[4 + k] - 256 : (int32_t)in[4 + k];
                if (w < -m->weight_limit || w > m->weight_limit) {
                    esnn_proto_error(p, seq, ESNN_ERR_PARAM, (uint16_t)k);
                    return;
                }
            }
            for (k = 0; k < n; ++k) {
                int32_t w = in[4 + k] >= 128u ? (int32_t)in[4 + k] - 256 : (int32_t)in[4 + k];
                esnn_learn_set(m, ln, (uint16_t)((off + k) / L->n_in), (uint16_t)((off + k) % L->n_in), w);
            }
            esnn_put16(o, (uint16_t)n);
            esnn_proto_send(p, type | 0x80u, seq, 2u);
            return;
        default: /* SAVE, LOAD */
            if (p->store == 0 || p->store->slot_bytes == 0u) {
                esnn_proto_error(p, seq, ESNN_ERR_UNSUPPORTED, type);
                return;
            }
            if ((type == ESNN_MSG_SAVE ? esnn_persist_save(m, ln, p->store, &seqno)
                                       : esnn_persist_load(m, ln, p->store, &seqno)) != 0) {
                esnn_proto_error(p, seq, ESNN_ERR_STORE, type);
                return;
            }
            esnn_put32(o, seqno);
            esnn_proto_send(p, type | 0x80u, seq, 4u);
            return;
        }
    }
}
