/* Zero page, e820, initrd placement, RNG seed and the 64-bit entry state. */
#include "check.h"
#include "boot/boot.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <sys/mman.h>

static struct boot_params *zp(struct guest_mem *gm)
{
	return gm_ptr(gm, BOOT_ZERO_PAGE, sizeof(struct boot_params));
}

static void test_small(void)
{
	static uint8_t ram[64u << 20];
	struct guest_mem gm = { .host = ram };
	struct kernel_info ki = { .entry = 0x1000000, .start = 0x1000000,
				  .end = 0x1800000 };
	uint8_t initrd[10000], seed[BOOT_RNG_SEED_LEN];
	struct boot_config bc = { .cmdline = "console=ttyS0 quiet",
				  .initrd = initrd, .initrd_len = sizeof(initrd),
				  .rng_seed = seed };
	struct boot_params *bp;

	memset(initrd, 0x5a, sizeof(initrd));
	memset(seed, 0x77, sizeof(seed));
	gm_layout(&gm, sizeof(ram));
	CHECK(bp_setup(&gm, &ki, &bc) == 0);
	bp = zp(&gm);
	CHECK(bp->hdr.boot_flag == 0xaa55);
	CHECK(bp->hdr.header == 0x53726448);
	CHECK(bp->hdr.type_of_loader == 0xff);
	CHECK(bp->hdr.version >= 0x0209); /* setup_data needs 2.09 */
	CHECK(bp->hdr.cmd_line_ptr == BOOT_CMDLINE_ADDR);
	CHECK(!strcmp((char *)ram + BOOT_CMDLINE_ADDR, "console=ttyS0 quiet"));
	CHECK(bp->e820_entries == 2);
	CHECK(bp->e820_table[0].addr == 0 &&
	      bp->e820_table[0].size == BOOT_EBDA_START);
	CHECK(bp->e820_table[1].addr == BOOT_HIMEM &&
	      bp->e820_table[1].addr + bp->e820_table[1].size == sizeof(ram));
	/* initrd: top of RAM, page aligned, bytes intact */
	CHECK(bp->hdr.ramdisk_size == sizeof(initrd));
	CHECK(bp->hdr.ramdisk_image % 4096 == 0);
	CHECK(bp->hdr.ramdisk_image + sizeof(initrd) <= sizeof(ram));
	CHECK(bp->hdr.ramdisk_image + sizeof(initrd) > sizeof(ram) - 4096);
	CHECK(!memcmp(ram + bp->hdr.ramdisk_image, initrd, sizeof(initrd)));
	/* RNG seed in setup_data */
	struct setup_data *sd = gm_ptr(&gm, bp->hdr.setup_data, sizeof(*sd) + 32);
	CHECK(sd && sd->type == SETUP_RNG_SEED && sd->len == 32 && sd->next == 0);
	CHECK(sd && sd->data[0] == 0x77 && sd->data[31] == 0x77);

	/* command line at the limit and over it */
	char longcmd[BOOT_CMDLINE_MAX + 10];
	memset(longcmd, 'a', sizeof(longcmd));
	longcmd[BOOT_CMDLINE_MAX - 1] = '\0';
	bc.cmdline = longcmd;
	CHECK(bp_setup(&gm, &ki, &bc) == 0);
	longcmd[BOOT_CMDLINE_MAX - 1] = 'a';
	longcmd[BOOT_CMDLINE_MAX] = '\0';
	CHECK(bp_setup(&gm, &ki, &bc) == -E2BIG);
	CHECK_STR_CONTAINS(err_msg(), "command line");
	bc.cmdline = "x";

	/* initrd that cannot fit above the kernel */
	ki.end = sizeof(ram) - 4096;
	CHECK(bp_setup(&gm, &ki, &bc) == -EFBIG);
	CHECK_STR_CONTAINS(err_msg(), "initrd");

	/* no initrd, no seed: fields stay zero */
	ki.end = 0x1800000;
	bc.initrd = NULL;
	bc.rng_seed = NULL;
	CHECK(bp_setup(&gm, &ki, &bc) == 0);
	CHECK(zp(&gm)->hdr.ramdisk_image == 0 && zp(&gm)->hdr.setup_data == 0);

	/* entry state */
	struct kvm_sregs s = { 0 };
	struct kvm_regs r;
	CHECK(entry_setup(&gm, &ki, &s, &r) == 0);
	CHECK(r.rip == 0x1000000 && r.rsi == BOOT_ZERO_PAGE && r.rflags == 2);
	CHECK(s.cs.selector == 0x10 && s.cs.l == 1 && s.cs.db == 0);
	CHECK(s.ds.selector == 0x18 && s.ss.selector == 0x18);
	CHECK((s.efer & 0x500) == 0x500 && (s.cr0 & 0x80000001) == 0x80000001);
	CHECK(s.cr3 == BOOT_PML4_ADDR && (s.cr4 & 0x20));
	uint64_t *pd = gm_ptr(&gm, BOOT_PD_ADDR, 4 * 4096);
	CHECK(pd[0] == 0x83 && pd[1] == (0x200000 | 0x83));
	CHECK(pd[2047] == ((2047ULL << 21) | 0x83)); /* maps up to 4 GiB */
	uint64_t *gdt = gm_ptr(&gm, BOOT_GDT_ADDR, 48);
	CHECK(gdt[2] == 0x00af9b000000ffffULL && gdt[3] == 0x00cf93000000ffffULL);
}

/* 5 GiB: the e820 map has a third entry above 4 GiB, the initrd stays
 * below the hole. Reserved, never touched beyond the low pages used. */
static void test_big(void)
{
	uint64_t size = 5ULL << 30;
	uint8_t *ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct guest_mem gm = { .host = ram };
	struct kernel_info ki = { .entry = 0x1000000, .end = 0x1800000 };
	uint8_t initrd[100] = { 1 };
	struct boot_config bc = { .cmdline = "c", .initrd = initrd,
				  .initrd_len = sizeof(initrd) };

	if (ram == MAP_FAILED) {
		printf("test_big: skipped (no 5 GiB of address space)\n");
		return;
	}
	gm_layout(&gm, size);
	CHECK(bp_setup(&gm, &ki, &bc) == 0);
	struct boot_params *bp = zp(&gm);
	CHECK(bp->e820_entries == 3);
	CHECK(bp->e820_table[1].addr + bp->e820_table[1].size == GM_HOLE_START);
	CHECK(bp->e820_table[2].addr == GM_4G && bp->e820_table[2].size == 2ULL << 30);
	CHECK(bp->hdr.ramdisk_image + sizeof(initrd) <= 0x80000000ULL);
	munmap(ram, size);
}

/* A second archive (agentd's boot configuration) follows the first at a
 * 4-byte boundary with NUL padding between, as the kernel's unpacker
 * needs; the total is what the kernel is told. */
static void test_two_archives(void)
{
	static uint8_t ram[64u << 20];
	struct guest_mem gm = { .host = ram };
	struct kernel_info ki = { .entry = 0x1000000, .end = 0x1800000 };
	uint8_t a[1001], b[64];
	struct boot_config bc = { .cmdline = "c", .initrd = a, .initrd_len = sizeof(a),
				  .initrd2 = b, .initrd2_len = sizeof(b) };

	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));
	memset(ram, 0xee, sizeof(ram));
	gm_layout(&gm, sizeof(ram));
	CHECK(bp_setup(&gm, &ki, &bc) == 0);
	struct boot_params *bp = zp(&gm);
	uint8_t *p = ram + bp->hdr.ramdisk_image;
	CHECK(bp->hdr.ramdisk_size == 1004 + sizeof(b));
	CHECK(bp->hdr.ramdisk_image % 4096 == 0);
	CHECK(!memcmp(p, a, sizeof(a)));
	CHECK(p[1001] == 0 && p[1002] == 0 && p[1003] == 0);
	CHECK(!memcmp(p + 1004, b, sizeof(b)));
	/* too big together: refused, not truncated */
	bc.initrd2_len = sizeof(ram);
	CHECK(bp_setup(&gm, &ki, &bc) == -EFBIG);
}

/* MP table: both checksums zero the byte sums, the floating pointer sits
 * where Linux's first EBDA scan finds it, entries describe the IOAPIC. */
static void test_mptable(void)
{
	static uint8_t ram[2u << 20];
	struct guest_mem gm = { .host = ram };
	uint8_t sum = 0;

	gm_layout(&gm, sizeof(ram));
	CHECK(mptable_setup(&gm, 0) == -EINVAL);
	CHECK(mptable_setup(&gm, BOOT_MAX_CPUS + 1) == -EINVAL);
	CHECK(mptable_setup(&gm, 2) == 0);
	uint8_t *f = ram + BOOT_EBDA_START;
	CHECK(!memcmp(f, "_MP_", 4));
	for (int i = 0; i < 16; i++)
		sum = (uint8_t)(sum + f[i]);
	CHECK(sum == 0);
	uint32_t physptr;
	memcpy(&physptr, f + 4, 4);
	CHECK(physptr == BOOT_EBDA_START + 16);
	uint8_t *h = ram + physptr;
	uint16_t len;
	memcpy(&len, h + 4, 2);
	CHECK(!memcmp(h, "PCMP", 4));
	CHECK(physptr + len <= BOOT_EBDA_START + BOOT_MPTABLE_MAX);
	sum = 0;
	for (unsigned i = 0; i < len; i++)
		sum = (uint8_t)(sum + h[i]);
	CHECK(sum == 0);
	/* 2 CPUs (20 bytes each) then the ISA bus, then the IOAPIC (id 2) */
	CHECK(h[44] == 0 && h[45] == 0 && (h[47] & 2));  /* BSP */
	CHECK(h[64] == 0 && h[65] == 1 && !(h[67] & 2)); /* AP */
	CHECK(h[84] == 1 && !memcmp(h + 86, "ISA", 3));
	CHECK(h[92] == 2 && h[93] == 2);
	CHECK(len == 44 + 2 * 20 + 8 + 8 + (BOOT_IOAPIC_PINS + 2) * 8);
}

int main(void)
{
	test_mptable();
	test_small();
	test_big();
	test_two_archives();
	return check_result("test_bootparams");
}
