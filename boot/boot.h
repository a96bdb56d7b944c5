/* Linux x86-64 boot: kernel loading (ELF vmlinux, bzImage), the zero page
 * (boot_params with e820, command line, initrd, RNG seed in setup_data),
 * and the 64-bit entry state (GDT, identity page tables, registers).
 * Documentation/x86/boot.rst, "64-bit Boot Protocol". */
#ifndef MSBVM_BOOT_H
#define MSBVM_BOOT_H

#include <asm/bootparam.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/core/mem.h"

/* Guest-physical layout of what the VMM writes below 1 MiB. */
#define BOOT_GDT_ADDR 0x500
#define BOOT_RNG_ADDR 0x6000     /* struct setup_data + seed */
#define BOOT_ZERO_PAGE 0x7000    /* struct boot_params */
#define BOOT_STACK_TOP 0x8ff0
#define BOOT_PML4_ADDR 0x9000
#define BOOT_PDPT_ADDR 0xa000
#define BOOT_PD_ADDR 0xb000      /* 4 pages: identity map of 4 GiB */
#define BOOT_CMDLINE_ADDR 0x20000
#define BOOT_CMDLINE_MAX 2048    /* x86 COMMAND_LINE_SIZE */
#define BOOT_EBDA_START 0x9fc00
#define BOOT_HIMEM 0x100000      /* nothing of the kernel may sit below */
#define BOOT_RNG_SEED_LEN 32
#define BOOT_MPTABLE_MAX 1024    /* EBDA start .. 0xa0000 */
#define BOOT_MAX_CPUS 32
#define BOOT_IOAPIC_PINS 24

#define BOOT_E820_RAM 1          /* E820_TYPE_RAM (not in the UAPI) */

struct kernel_info {
	uint64_t entry;      /* 64-bit entry point, guest-physical */
	uint64_t start, end; /* guest-physical span the kernel needs */
	bool bzimage;
	struct setup_header hdr; /* bzImage: the file's header */
};

/* Validates img (every header field range-checked against the file and
 * against guest RAM) and copies the kernel into guest memory. */
int loader_load(struct guest_mem *gm, const uint8_t *img, size_t len,
		struct kernel_info *ki);

struct boot_config {
	const char *cmdline;
	const uint8_t *initrd; /* may be NULL */
	size_t initrd_len;
	const uint8_t *initrd2; /* appended to initrd (a second archive) */
	size_t initrd2_len;
	const uint8_t *rng_seed; /* BOOT_RNG_SEED_LEN bytes, or NULL */
};

/* Writes the zero page, command line, e820, initrd and RNG seed. */
int bp_setup(struct guest_mem *gm, const struct kernel_info *ki,
	     const struct boot_config *cfg);

/* Writes the MP table for ncpus vCPUs and the IOAPIC at the EBDA. */
int mptable_setup(struct guest_mem *gm, unsigned ncpus);

/* Writes GDT and page tables and sets, in sregs (KVM's reset state on
 * input) and regs, the vCPU state for the entry. */
int entry_setup(struct guest_mem *gm, const struct kernel_info *ki,
		struct kvm_sregs *sregs, struct kvm_regs *regs);

#endif
