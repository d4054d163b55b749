/*
 * libFuzzer harness for the device-side protocol decoder (firmware_templates/runtime/esnn_proto.c).
 * Any byte stream goes through esnn_proto_rx() (or, for half the inputs, esnn_proto_rx_byte())
 * against a small real model; ASan/UBSan catch memory errors and undefined behaviour, and the
 * harness checks that every reply the device sends decodes as a valid frame within the
 * advertised size.
 *
 *   python tools/fuzz/run_fuzz.py --seconds 60   (builds it with clang's -fsanitize=fuzzer,address,undefined
 *   against firmware_templates/apps/device_link.c, the runtime and a generated model, then runs it)
 */
#include <stdint.h>
#include <stdlib.h>

#include "device_link.h"

static esnn_proto_t *proto;
static uint8_t check[ESNN_PROTO_MAX_FRAME];

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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (proto == 0) /* the same set-up as the device firmware, learning layer included */
        proto = device_link_setup("fuzz", on_reply);
    esnn_proto_init(proto);
    if (size > 0 && (data[0] & 1u)) { /* half the inputs byte by byte, as the device loop feeds them */
        size_t i;
        for (i = 0; i < size; ++i)
            esnn_proto_rx_byte(proto, data[i]);
        return 0;
    }
    while (size > 0) {
        uint16_t n = size > 60000u ? 60000u : (uint16_t)size;
        esnn_proto_rx(proto, data, n);
        data += n;
        size -= n;
    }
    return 0;
}
