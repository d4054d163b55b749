/* Boards that need no clock or pin set-up (emulated boards): the UART runs at the board clock. */
#include "hal.h"
#include "board_config.h"

uint32_t hal_uart_clock_hz = BOARD_UART_CLOCK_HZ;

void hal_board_init(void) { hal_uart_clock_hz = BOARD_UART_CLOCK_HZ; }
