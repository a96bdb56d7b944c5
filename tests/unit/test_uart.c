/* 16550 register behaviour the Linux 8250 driver depends on. */
#include "check.h"
#include "vmm/hw/uart.h"

#include <linux/serial_reg.h>

static char out[64];
static int out_len, irq_level, irq_changes;

static void tx(void *o, uint8_t b) { (void)o; out[out_len++] = (char)b; }
static void set_irq(void *o, bool l) { (void)o; irq_level = l; irq_changes++; }

static uint8_t rd(struct uart *u, unsigned reg)
{
	uint8_t v;
	uart_io(u, reg, &v, 1, false);
	return v;
}

static void wr(struct uart *u, unsigned reg, uint8_t v)
{
	uart_io(u, reg, &v, 1, true);
}

int main(void)
{
	struct uart u;

	uart_init(&u, tx, set_irq, NULL);
	CHECK((rd(&u, UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT)) ==
	      (UART_LSR_THRE | UART_LSR_TEMT));
	CHECK(rd(&u, UART_IIR) & UART_IIR_NO_INT);
	wr(&u, UART_TX, 'h');
	wr(&u, UART_TX, 'i');
	CHECK(out_len == 2 && out[0] == 'h' && out[1] == 'i');
	CHECK(irq_level == 0); /* no interrupts enabled yet */

	/* divisor latch: DLAB banks RBR/IER, does not transmit */
	wr(&u, UART_LCR, UART_LCR_DLAB | UART_LCR_WLEN8);
	wr(&u, UART_DLL, 1);
	wr(&u, UART_DLM, 0);
	CHECK(rd(&u, UART_DLL) == 1 && out_len == 2);
	wr(&u, UART_LCR, UART_LCR_WLEN8);
	CHECK(rd(&u, UART_LCR) == UART_LCR_WLEN8);

	/* enabling THRI with an empty THR interrupts; reading IIR acks */
	wr(&u, UART_IER, UART_IER_THRI);
	CHECK(irq_level == 1);
	CHECK((rd(&u, UART_IIR) & 0x0f) == UART_IIR_THRI);
	CHECK(irq_level == 0);
	wr(&u, UART_TX, '!');
	CHECK(irq_level == 1);
	wr(&u, UART_IER, 0);
	CHECK(irq_level == 0);

	/* receive: data ready, RDI interrupt, bytes in order */
	wr(&u, UART_IER, UART_IER_RDI);
	CHECK(uart_push_input(&u, (const uint8_t *)"ab", 2) == 2);
	CHECK(irq_level == 1);
	CHECK(rd(&u, UART_LSR) & UART_LSR_DR);
	CHECK((rd(&u, UART_IIR) & 0x0f) == UART_IIR_RDI);
	CHECK(rd(&u, UART_RX) == 'a');
	CHECK(irq_level == 1);
	CHECK(rd(&u, UART_RX) == 'b');
	CHECK(irq_level == 0 && !(rd(&u, UART_LSR) & UART_LSR_DR));
	CHECK(rd(&u, UART_RX) == 0); /* empty reads 0 */

	/* bounded buffer: the overflow is refused, not lost silently */
	uint8_t big[UART_RX_CAP + 10];
	memset(big, 'x', sizeof(big));
	CHECK(uart_push_input(&u, big, sizeof(big)) == UART_RX_CAP);
	CHECK(uart_rx_room(&u) == 0);
	wr(&u, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
	CHECK(uart_rx_room(&u) == UART_RX_CAP && irq_level == 0);

	/* odd sizes and offsets from a guest are ignored, reads all-ones */
	uint32_t w = 0;
	uart_io(&u, 0, (uint8_t *)&w, 4, false);
	CHECK(w == 0xffffffff);
	wr(&u, UART_SCR, 0x5a);
	CHECK(rd(&u, UART_SCR) == 0x5a);
	return check_result("test_uart");
}
