/* The serial protocol wired to this model: its buffers, state and (if built) learning layer.
 * Shared by the device firmware and the protocol fuzzer so that both run the same set-up. */
#ifndef DEVICE_LINK_H
#define DEVICE_LINK_H

#include "esnn_model.h"
#include "esnn_proto.h"

/* Bind the model state, point the protocol at static buffers sized for this model, attach the
 * learning layer when the model has one (plasticity off), and reset the protocol. */
esnn_proto_t *device_link_setup(const char *board, esnn_write_fn write);

#endif
