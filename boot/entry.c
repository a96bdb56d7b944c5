/* CPU state for the 64-bit boot protocol: long mode with paging, a GDT
 * holding flat __BOOT_CS (0x10) and __BOOT_DS (0x18), the first 4 GiB
 * identity-mapped with 2 MiB pages, RSI pointing at the zero page. */
#include "boot.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <string.h>

#define ENTRY_CS 0x10
#define ENTRY_DS 0x18
#define ENTRY_TSS 0x20

#define CR0_PE 0x1ULL
#define CR0_MP 0x2ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_WP 0x10000ULL
#define CR0_AM 0x40000ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL
#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

static const uint64_t entry_gdt[] = {
	0,                     /* null */
	0,                     /* unused */
	0x00af9b000000ffffULL, /* 0x10: code, 64-bit, DPL 0 */
	0x00cf93000000ffffULL, /* 0x18: data, flat 4 GiB */
	0x00008b0000000067ULL, /* 0x20: 64-bit TSS, busy (VMX needs a TR) */
	0,                     /* upper half of the TSS descriptor */
};

static struct kvm_segment entry_seg(uint16_t sel, uint8_t type, bool code)
{
	struct kvm_segment s = {
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = code ? 0 : 1, .s = 1,
		.l = code ? 1 : 0, .g = 1,
	};
	return s;
}

static int entry_tables(struct guest_mem *gm)
{
	uint64_t *pml4 = gm_ptr(gm, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = gm_ptr(gm, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = gm_ptr(gm, BOOT_PD_ADDR, 4 * 4096);
	void *gdt = gm_ptr(gm, BOOT_GDT_ADDR, sizeof(entry_gdt));

	if (!pml4 || !pdpt || !pd || !gdt)
		return err_set(EINVAL, "guest RAM too small for page tables");
	memcpy(gdt, entry_gdt, sizeof(entry_gdt));
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

int entry_setup(struct guest_mem *gm, const struct kernel_info *ki,
		struct kvm_sregs *sregs, struct kvm_regs *regs)
{
	int rc = entry_tables(gm);

	if (rc < 0)
		return rc;
	sregs->gdt.base = BOOT_GDT_ADDR;
	sregs->gdt.limit = sizeof(entry_gdt) - 1;
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	sregs->cs = entry_seg(ENTRY_CS, 0xb, true);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss =
		entry_seg(ENTRY_DS, 0x3, false);
	sregs->tr = entry_seg(ENTRY_TSS, 0xb, false);
	sregs->tr.s = 0;
	sregs->tr.limit = 0x67;
	sregs->tr.g = 0;
	sregs->tr.db = 0;
	sregs->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
	sregs->cr3 = BOOT_PML4_ADDR;
	sregs->cr4 = CR4_PAE;
	sregs->efer = EFER_LME | EFER_LMA;

	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2; /* bit 1 is reserved-one; IF clear */
	regs->rip = ki->entry;
	regs->rsi = BOOT_ZERO_PAGE;
	regs->rsp = regs->rbp = BOOT_STACK_TOP;
	return 0;
}
