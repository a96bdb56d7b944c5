/* 16550A UART (COM1 at 0x3f8, IRQ 4): console output and input, with
 * THR-empty and received-data interrupts so an interactive shell works. */
#ifndef MSBVM_UART_H
#define MSBVM_UART_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ 4
#define UART_RX_CAP 256

struct uart {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, lsr_extra, scr, dll, dlm, fcr;
	bool thr_ipending;   /* THR-empty interrupt pending until IIR read */
	uint8_t rx[UART_RX_CAP];
	unsigned rx_head, rx_count;
	bool irq_level;
	/* Output sink (one byte at a time) and interrupt line. */
	void (*tx)(void *opaque, uint8_t byte);
	void (*set_irq)(void *opaque, bool level);
	void *opaque;
};

void uart_init(struct uart *u, void (*tx)(void *, uint8_t),
	       void (*set_irq)(void *, bool), void *opaque);
/* Bus handler for the 8 registers. */
void uart_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	     bool is_write);
/* Queue input bytes; returns how many fit (the rest must be retried). */
unsigned uart_push_input(struct uart *u, const uint8_t *buf, unsigned n);
/* Free room in the receive buffer. */
unsigned uart_rx_room(struct uart *u);

#endif
