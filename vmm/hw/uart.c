/* 16550A register model after the National Semiconductor PC16550D data
 * sheet: IIR priorities (RX data over THR empty), DLAB-banked divisor
 * latches, loopback ignored (the kernel's autoconfig is skipped for a fixed
 * port type). Thread-safe: the vCPU thread and the console input thread
 * both enter under u->lock. */
#include "uart.h"

#include <linux/serial_reg.h>
#include <string.h>

void uart_init(struct uart *u, void (*tx)(void *, uint8_t),
	       void (*set_irq)(void *, bool), void *opaque)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->tx = tx;
	u->set_irq = set_irq;
	u->opaque = opaque;
	u->mcr = UART_MCR_OUT2;
}

static uint8_t uart_iir(struct uart *u)
{
	uint8_t fifo = (u->fcr & UART_FCR_ENABLE_FIFO) ? 0xc0 : 0;

	if ((u->ier & UART_IER_RDI) && u->rx_count)
		return fifo | UART_IIR_RDI;
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return fifo | UART_IIR_THRI;
	return fifo | UART_IIR_NO_INT;
}

/* Called with the lock held after every state change. */
static void uart_update_irq(struct uart *u)
{
	bool level = !(uart_iir(u) & UART_IIR_NO_INT);

	if (level != u->irq_level) {
		u->irq_level = level;
		u->set_irq(u->opaque, level);
	}
}

static uint8_t uart_read(struct uart *u, unsigned reg)
{
	uint8_t v = 0;

	switch (reg) {
	case UART_RX:
		if (u->lcr & UART_LCR_DLAB)
			return u->dll;
		if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART_RX_CAP;
			u->rx_count--;
		}
		return v;
	case UART_IER:
		return (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
	case UART_IIR:
		v = uart_iir(u);
		if ((v & 0x0f) == UART_IIR_THRI)
			u->thr_ipending = false; /* reading IIR clears it */
		return v;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		/* Transmitter always empty: output is written synchronously. */
		v = UART_LSR_TEMT | UART_LSR_THRE | u->lsr_extra;
		if (u->rx_count)
			v |= UART_LSR_DR;
		return v;
	case UART_MSR:
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	default:
		return u->scr;
	}
}

static void uart_write(struct uart *u, unsigned reg, uint8_t v)
{
	switch (reg) {
	case UART_TX:
		if (u->lcr & UART_LCR_DLAB) {
			u->dll = v;
			break;
		}
		u->tx(u->opaque, v);
		u->thr_ipending = true;
		break;
	case UART_IER:
		if (u->lcr & UART_LCR_DLAB) {
			u->dlm = v;
			break;
		}
		/* Enabling THRI with an empty THR raises the interrupt at once
		 * (the 8250 driver relies on it to start transmitting). */
		if (!(u->ier & UART_IER_THRI) && (v & UART_IER_THRI))
			u->thr_ipending = true;
		u->ier = v & 0x0f;
		break;
	case UART_FCR:
		u->fcr = v;
		if (v & UART_FCR_CLEAR_RCVR)
			u->rx_count = u->rx_head = 0;
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v;
		break;
	case UART_SCR:
		u->scr = v;
		break;
	default: /* LSR, MSR: read-only */
		break;
	}
}

void uart_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	     bool is_write)
{
	struct uart *u = opaque;

	if (len != 1 || off > 7) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&u->lock);
	if (is_write)
		uart_write(u, (unsigned)off, data[0]);
	else
		data[0] = uart_read(u, (unsigned)off);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

unsigned uart_rx_room(struct uart *u)
{
	unsigned room;

	pthread_mutex_lock(&u->lock);
	room = UART_RX_CAP - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return room;
}

unsigned uart_push_input(struct uart *u, const uint8_t *buf, unsigned n)
{
	unsigned done = 0;

	pthread_mutex_lock(&u->lock);
	while (done < n && u->rx_count < UART_RX_CAP) {
		u->rx[(u->rx_head + u->rx_count) % UART_RX_CAP] = buf[done++];
		u->rx_count++;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return done;
}
