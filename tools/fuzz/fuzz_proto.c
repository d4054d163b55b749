/*
 * libFuzzer harness for the device-side protocol decoder (firmware_templates/runtime/esnn_proto.c).
 * Any byte stream goes through esnn_proto_rx() (or, for half the inputs, esnn_proto_rx_byte())
 * against a small real model; ASan/UBSan catch memory errors and undefined behaviour, and the
 * harness checks that every reply the device sends decodes as a valid frame within the
 * advertised size, and that the device's COBS decoding (done as bytes arrive) agrees with the
 * reference esnn_cobs_decode on every frame: each non-empty run of bytes ending at a delimiter
 * gets exactly one reply, and that reply is a framing error (seq 0, code 5 or 7) exactly when
 * the reference rejects the run or finds it longer than the device's frame buffer.
 *
 *   python tools/fuzz/run_fuzz.py --seconds 60   (builds it with clang's -fsanitize=fuzzer,address,undefined
 *   against firmware_templates/apps/device_link.c, the runtime and a generated model, then runs it)
 */
#include <stdint.h>
#include <stdlib.h>

#include "device_link.h"

static esnn_proto_t *proto;
static uint8_t check[ESNN_PROTO_MAX_FRAME];
/* per reply of the current input: was it a framing error? */
static uint8_t framing[1u << 16];
static size_t n_replies;

static void on_reply(const uint8_t *data, uint16_t len)
{
    int32_t n;
    if (len < 2u || len > ESNN_COBS_MAX(ESNN_PROTO_MAX_FRAME) || data[len - 1u] != 0u)
        abort();
    n = esnn_cobs_decode(data, (uint16_t)(len - 1u), check, sizeof check);
    if (n < (int32_t)(ESNN_PROTO_HEADER + ESNN_PROTO_CRC))
        abort();
    if (esnn_crc16(check, (uint16_t)(n - 2)) != (uint16_t)(check[n - 2] | (check[n - 1] << 8)))
        abort();
    if (n_replies < sizeof framing)
        framing[n_replies] = check[1] == (ESNN_MSG_ERROR | 0x80u) && check[2] == 0u &&
                             n == ESNN_PROTO_HEADER + 3 + ESNN_PROTO_CRC &&
                             (check[6] == ESNN_ERR_TOO_LARGE || check[6] == ESNN_ERR_COBS);
    n_replies++;
}

/* The replies the reference decoder expects for `data`, checked against those recorded. */
static void check_framing(const uint8_t *data, size_t size)
{
    static uint8_t ref[ESNN_PROTO_MAX_FRAME];
    size_t start = 0, i, k = 0;
    for (i = 0; i < size; ++i) {
        if (data[i] != 0u)
            continue;
        if (i > start) {
            size_t len = i - start;
            int32_t n = len > 65535u ? -1 : esnn_cobs_decode(data + start, (uint16_t)len, ref, sizeof ref);
            /* a well-framed request numbered 0 can earn a "too large" with seq 0 of its own
             * (too many timesteps for a reply): no verdict on those */
            int own_seq0 = n >= 3 && ref[2] == 0u;
            if (k < sizeof framing && !own_seq0 && framing[k] != (n < 0))
                abort(); /* the decoder on arrival and the reference disagree about this frame */
            ++k;
        }
        start = i + 1;
    }
    if (k != n_replies)
        abort(); /* a frame went unanswered, or one was answered twice */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (proto == 0) /* the same set-up as the device firmware, learning layer included */
        proto = device_link_setup("fuzz", on_reply);
    esnn_proto_init(proto);
    n_replies = 0;
    if (size > 0 && (data[0] & 1u)) { /* half the inputs byte by byte, as the device loop feeds them */
        size_t i;
        for (i = 0; i < size; ++i)
            esnn_proto_rx_byte(proto, data[i]);
    } else {
        const uint8_t *d = data;
        size_t left = size;
        while (left > 0) {
            uint16_t n = left > 60000u ? 60000u : (uint16_t)left;
            esnn_proto_rx(proto, d, n);
            d += n;
            left -= n;
        }
    }
    check_framing(data, size);
    return 0;
}
