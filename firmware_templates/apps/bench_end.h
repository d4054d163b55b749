/*
 * The end every benchmark firmware shares (tools/bench/firmware.py, tools/bench/conv.py):
 *   "C 200 <ticks of 200 nops>" (calibration of the counter against known instructions),
 *   "T <ticks of two back-to-back counter reads>" (the timing overhead), "END".
 */
#ifndef BENCH_END_H
#define BENCH_END_H

#include "hal.h"

/* never inlined: GCC counts the .rept block as one instruction, so a Thumb-1 conditional branch
 * (+-256 bytes) across it in the caller would be out of range */
#if defined(__GNUC__)
#define BENCH_NOINLINE __attribute__((noinline))
#else
#define BENCH_NOINLINE
#endif
static BENCH_NOINLINE void bench_end(void)
{
    uint32_t t0, t1;
    /* 200 single-instruction nops (the same mnemonic on ARM and RISC-V; more would push Thumb-1
     * literal pools out of reach) */
    t0 = hal_ticks();
    __asm__ volatile(".rept 200\n\tnop\n\t.endr");
    t1 = hal_ticks();
    hal_puts("C ");
    hal_puthex(200u, 8);
    hal_putc(' ');
    hal_puthex(t1 - t0, 8);
    t0 = hal_ticks();
    t1 = hal_ticks();
    hal_puts("\nT ");
    hal_puthex(t1 - t0, 8);
    hal_puts("\nEND\n");
}

#endif /* BENCH_END_H */
