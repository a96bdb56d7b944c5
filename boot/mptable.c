/* Intel MultiProcessor Specification 1.4 table at the start of the EBDA.
 * It names the vCPUs and the in-kernel IOAPIC so the guest routes device
 * interrupts through the IOAPIC, and, found by Linux's first scan window,
 * it ends the MP-table search early: scanning the BIOS area without one
 * maps and unmaps 16 bytes at a time and cost 3 s of emulated boot on the
 * nested development hosts. The structures are the spec's (chapter 4), not
 * a UAPI, so they are declared here. */
#include "boot.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <string.h>

struct mpf {                 /* MP floating pointer, 16 bytes */
	char sig[4];         /* "_MP_" */
	uint32_t physptr;    /* MP configuration table */
	uint8_t length;      /* in 16-byte units: 1 */
	uint8_t specrev;     /* 4: MP 1.4 */
	uint8_t checksum;
	uint8_t feature[5];  /* all 0: a configuration table follows */
} __attribute__((packed));

struct mpc {                 /* configuration table header, 44 bytes */
	char sig[4];         /* "PCMP" */
	uint16_t length;
	uint8_t spec, checksum;
	char oem[8], product[12];
	uint32_t oemptr;
	uint16_t oemsize, oemcount;
	uint32_t lapic;
	uint16_t extlen;
	uint8_t extchecksum, reserved;
} __attribute__((packed));

struct mpc_cpu { uint8_t type, apicid, apicver, flags; uint32_t sig, feat, res[2]; } __attribute__((packed));
struct mpc_bus { uint8_t type, busid; char bustype[6]; } __attribute__((packed));
struct mpc_ioapic { uint8_t type, apicid, apicver, flags; uint32_t addr; } __attribute__((packed));
struct mpc_int { uint8_t type, irqtype; uint16_t irqflag; uint8_t srcbus, srcbusirq, dstapic, dstirq; } __attribute__((packed));

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

#define MP_APIC_VERSION 0x14
#define MP_CPU_ENABLED 1
#define MP_CPU_BSP 2
#define MP_IOAPIC_ADDR 0xfec00000u
#define MP_LAPIC_ADDR 0xfee00000u

static uint8_t mp_checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

/* Appends one entry at *off; the caller sized the area (MPTABLE_MAX). */
static void mp_put(uint8_t *base, size_t *off, const void *e, size_t len)
{
	memcpy(base + *off, e, len);
	*off += len;
}

int mptable_setup(struct guest_mem *gm, unsigned ncpus)
{
	uint8_t *base = gm_ptr(gm, BOOT_EBDA_START, BOOT_MPTABLE_MAX);
	struct mpf f = { .sig = "_MP_", .length = 1, .specrev = 4 };
	struct mpc h = { .sig = "PCMP", .spec = 4, .oem = "MSBVM   ",
			 .product = "MICROVM     ", .lapic = MP_LAPIC_ADDR };
	size_t off = sizeof(f) + sizeof(h);
	uint8_t ioapic_id = (uint8_t)ncpus;

	if (!base || ncpus == 0 || ncpus > BOOT_MAX_CPUS)
		return err_set(EINVAL, "MP table: bad vCPU count %u", ncpus);
	memset(base, 0, BOOT_MPTABLE_MAX);
	for (unsigned i = 0; i < ncpus; i++) {
		struct mpc_cpu c = { MP_PROCESSOR, (uint8_t)i, MP_APIC_VERSION,
				     MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
				     0x600, 0x201, { 0, 0 } };
		mp_put(base, &off, &c, sizeof(c));
	}
	struct mpc_bus bus = { MP_BUS, 0, "ISA   " };
	mp_put(base, &off, &bus, sizeof(bus));
	struct mpc_ioapic io = { MP_IOAPIC, ioapic_id, MP_APIC_VERSION, 1,
				 MP_IOAPIC_ADDR };
	mp_put(base, &off, &io, sizeof(io));
	/* Identity: ISA IRQ n -> IOAPIC pin n, for all 24 KVM IOAPIC pins. */
	for (uint8_t irq = 0; irq < BOOT_IOAPIC_PINS; irq++) {
		struct mpc_int in = { MP_INTSRC, MP_INT, 0, 0, irq, ioapic_id, irq };
		mp_put(base, &off, &in, sizeof(in));
	}
	struct mpc_int l0 = { MP_LINTSRC, MP_EXTINT, 0, 0, 0, 0xff, 0 };
	struct mpc_int l1 = { MP_LINTSRC, MP_NMI, 0, 0, 0, 0xff, 1 };
	mp_put(base, &off, &l0, sizeof(l0));
	mp_put(base, &off, &l1, sizeof(l1));

	h.length = (uint16_t)(off - sizeof(f));
	memcpy(base + sizeof(f), &h, sizeof(h));
	base[sizeof(f) + offsetof(struct mpc, checksum)] =
		mp_checksum(base + sizeof(f), h.length);
	f.physptr = BOOT_EBDA_START + sizeof(f);
	memcpy(base, &f, sizeof(f));
	base[offsetof(struct mpf, checksum)] = mp_checksum(base, sizeof(f));
	return 0;
}
