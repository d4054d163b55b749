/* RP2040 second-stage boot loader: the first 256 bytes of flash (RP2040 datasheet 2.8.1).
 *
 * The boot ROM copies 252 bytes from flash to SRAM at 0x20041F00, checks their CRC-32 (the last
 * four bytes; polynomial 0x04C11DB7, initial value 0xFFFFFFFF, not reflected, no final XOR) and
 * runs them. This one sets up execute-in-place with the ROM's own routines (2.8.3.1.3:
 * connect_internal_flash 'IF', flash_exit_xip 'EX', flash_flush_cache 'FC',
 * flash_enter_cmd_xip 'CX'): serial 03h reads that every flash chip supports, slower than the
 * SDK's quad-SPI boot loaders but independent of the chip on the board. Then it starts the
 * image's vector table at 0x10000100: VTOR, stack pointer, reset handler (2.8.1.2).
 * edgesnn links this file alone at 0x20041F00 and adds the CRC (firmware/baremetal.py). */
#include <stdint.h>

typedef void *(*rom_table_lookup_fn)(const uint16_t *table, uint32_t code);
typedef void (*rom_void_fn)(void);

#define ROM_FUNC_TABLE 0x14u /* 16-bit pointers in the ROM header (2.8.3) */
#define ROM_TABLE_LOOKUP 0x18u
#define ROM_CODE(a, b) ((uint32_t)(a) | ((uint32_t)(b) << 8))
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define IMAGE_VECTORS 0x10000100u

/* A half-word of the boot ROM. The empty asm hides the constant address from GCC, which would
 * otherwise treat a pointer below 0x1000 as null and reject the read (-Warray-bounds). */
static uint16_t rom_hword(uintptr_t addr)
{
    const volatile uint16_t *p;
    __asm__("" : "=r"(p) : "0"(addr));
    return *p;
}

static rom_void_fn rom_func(uint32_t code)
{
    rom_table_lookup_fn lookup = (rom_table_lookup_fn)(uintptr_t)rom_hword(ROM_TABLE_LOOKUP);
    return (rom_void_fn)(uintptr_t)lookup((const uint16_t *)(uintptr_t)rom_hword(ROM_FUNC_TABLE), code);
}

__attribute__((section(".boot2_entry"), noreturn, used)) void boot2_entry(void)
{
    rom_func(ROM_CODE('I', 'F'))();
    rom_func(ROM_CODE('E', 'X'))();
    rom_func(ROM_CODE('F', 'C'))();
    rom_func(ROM_CODE('C', 'X'))();
    const volatile uint32_t *vectors = (const volatile uint32_t *)IMAGE_VECTORS;
    SCB_VTOR = IMAGE_VECTORS;
    __asm__ volatile("msr msp, %0\n\tbx %1" : : "r"(vectors[0]), "r"(vectors[1]) : "memory");
    __builtin_unreachable();
}
