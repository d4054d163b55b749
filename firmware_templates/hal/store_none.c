/* Boards without persistent storage for learned weights: SAVE/LOAD answer "unsupported". */
#include "esnn_proto.h"

const esnn_store_t *hal_store(void);

const esnn_store_t *hal_store(void) { return 0; }
