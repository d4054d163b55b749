/*
 * Page-erasable flash behind the weight store (store_flash.c). A chip driver (flash_<chip>.c)
 * provides these three functions; the tests provide a model of them that enforces the rules.
 * Rules the store keeps: a page is erased before any of its words is programmed, each word is
 * programmed once per erase, addresses of programmed words are 4-byte aligned.
 */
#ifndef ESNN_FLASH_H
#define ESNN_FLASH_H

#include <stdint.h>

/* Erase the page (sector) that starts at addr; 0 on success. */
int esnn_flash_erase(uint32_t page_addr);
/* Program one aligned 32-bit word of an erased page; 0 on success. */
int esnn_flash_program(uint32_t addr, uint32_t word);
/* Read n bytes (flash is memory-mapped on the chips). */
void esnn_flash_read(uint32_t addr, uint8_t *dst, uint32_t n);

#endif
