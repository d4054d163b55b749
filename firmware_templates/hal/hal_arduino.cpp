// Arduino glue for PlatformIO boards: the HAL over Serial, and the sketch entry points.
#include <Arduino.h>

extern "C" {
#include "hal.h"
int device_main(void);

void hal_uart_init(void) { Serial.begin(115200); while (!Serial) { } }
void hal_timer_init(void) {}
void hal_putc(char c) { Serial.write((uint8_t)c); }
void hal_flush(void) { Serial.flush(); }
int hal_getc(void) { return Serial.available() ? Serial.read() : -1; }
uint32_t hal_ticks(void) { return (uint32_t)micros(); }  // microseconds, not instructions
int hal_has_ticks(void) { return 1; }
void hal_exit(int code) { (void)code; for (;;) { delay(1000); } }
}

void setup() { device_main(); }  // serves the protocol forever
void loop() {}

/* the framework's loop polls Serial; no sleep between bytes */
extern "C" void hal_wait_input(void) {}
