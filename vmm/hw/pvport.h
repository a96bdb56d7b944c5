/* Paravirtual power-off/panic port: how the guest kernel tells the VMM it
 * powered off, halted or panicked (there is no ACPI). The guest side is
 * kernel-config/patches/0004 (arch/x86/kernel/msbvm_pv.c), enabled by
 * `msbvm.pvport=0x6f0` on the kernel command line.
 *
 * Protocol, one port:
 *   read (any width)  -> PVPORT_SIGNATURE in every byte, so the guest can
 *                        probe for it (an unclaimed port reads 0xff);
 *   1-byte write      -> PVPORT_POWEROFF, PVPORT_PANIC or PVPORT_HALT.
 * Any other write (other value, other width) is ignored and logged.
 *
 * Why 0x6f0: above the 0x000-0x3ff ISA range the legacy PC devices and
 * their drivers live in, and clear of every port msbvm (0x3f8 UART, 0x60/
 * 0x64 i8042, 0x70 RTC, 0x80 POST) or QEMU uses for this kind of device
 * (0x402 debugcon, 0x501 isa-debug-exit, 0x505 pvpanic, 0x510 fw_cfg,
 * 0x600 ACPI PM, 0xcf8 PCI config). Its 10-bit ISA alias, 0x2f0, is a
 * reserved, unused slot. Not 0x505: the codes differ from pvpanic's. */
#ifndef MSBVM_PVPORT_H
#define MSBVM_PVPORT_H

#include <stdbool.h>
#include <stdint.h>

#define PVPORT_PORT 0x6f0
#define PVPORT_SIGNATURE 0x4d /* 'M' */
#define PVPORT_POWEROFF 0x01
#define PVPORT_PANIC 0x02
/* halt(8): nothing can wake a halted microVM, so it is a power-off */
#define PVPORT_HALT 0x03

struct pvport {
	void (*poweroff)(void *opaque); /* power-off or halt */
	void (*panic)(void *opaque);
	void *opaque;
};

/* Bus handler for the one port at PVPORT_PORT. */
void pvport_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	       bool is_write);

#endif
