/* RV32 start-up: stack, .data copy, .bss zero, board clocks and pins, main, exit (semihosting
 * under QEMU; a real board spins: ebreak without a debugger would trap). */
#include "board_config.h"
    .section .init, "ax"
    .globl _start
_start:
    la sp, _estack
    la t0, _sidata
    la t1, _sdata
    la t2, _edata
1:  bgeu t1, t2, 2f
    lw t3, 0(t0)
    sw t3, 0(t1)
    addi t0, t0, 4
    addi t1, t1, 4
    j 1b
2:  la t1, _sbss
    la t2, _ebss
3:  bgeu t1, t2, 4f
    sw zero, 0(t1)
    addi t1, t1, 4
    j 3b
4:  call hal_board_init
    call main
    call hal_exit
5:  j 5b

    /* void hal_exit(int code): RISC-V semihosting SYS_EXIT, the uncompressed magic sequence */
    .text
    .globl hal_exit
    .balign 16
    .option push
    .option norvc
hal_exit:
#if BOARD_SEMIHOSTING
    mv a1, a0
    li t0, 0x20026
    li t1, 0x20024
    beqz a1, 6f
    mv a1, t1
    j 7f
6:  mv a1, t0
7:  li a0, 0x18
    slli zero, zero, 0x1f
    ebreak
    srai zero, zero, 7
#endif
8:  j 8b
    .option pop
