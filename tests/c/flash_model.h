/* The flash model's state, for the persistence harness (see flash_model.c). */
#ifndef FLASH_MODEL_H
#define FLASH_MODEL_H

#include <setjmp.h>
#include <stdint.h>

#define FLASH_MODEL_BASE BOARD_STORAGE_SLOT0
#define FLASH_MODEL_BYTES (BOARD_STORAGE_SLOT1 + BOARD_STORAGE_SLOT_BYTES - BOARD_STORAGE_SLOT0)

extern uint8_t flash_model_mem[FLASH_MODEL_BYTES];
extern unsigned long flash_model_steps;
extern long flash_model_cut_at;
extern jmp_buf flash_model_reset;

#endif
