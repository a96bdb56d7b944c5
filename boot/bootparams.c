/* The zero page: struct boot_params as the boot protocol wants it, plus
 * the command line, the initrd and a boot-loader RNG seed in setup_data
 * (SETUP_RNG_SEED, honoured with random.trust_bootloader=on: the guest's
 * CRNG is ready at once instead of waiting for entropy, which is slow on
 * hosts without RDRAND). */
#include "boot.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <string.h>

#define BP_HDR_MAGIC 0x53726448 /* "HdrS" */
#define BP_VERSION 0x020f       /* what we implement for ELF kernels */
#define BP_LOADER_UNDEFINED 0xff

static void bp_e820(struct boot_params *bp, const struct guest_mem *gm)
{
	struct boot_e820_entry *e = bp->e820_table;
	unsigned n = 0;

	/* Below the EBDA, then from 1 MiB to the hole, then above 4 GiB. */
	e[n++] = (struct boot_e820_entry){ 0, BOOT_EBDA_START, BOOT_E820_RAM };
	e[n++] = (struct boot_e820_entry){ BOOT_HIMEM, gm->low_size - BOOT_HIMEM,
					   BOOT_E820_RAM };
	if (gm->ram_size > gm->low_size)
		e[n++] = (struct boot_e820_entry){ GM_4G,
						   gm->ram_size - gm->low_size,
						   BOOT_E820_RAM };
	bp->e820_entries = (uint8_t)n;
}

/* Highest page-aligned spot under the limits that stays above the kernel.
 * A second archive follows the first at the next 4-byte boundary: the
 * kernel unpacks concatenated archives and skips NUL padding between
 * them, but wants each cpio header 4-byte aligned. */
static int bp_initrd(struct boot_params *bp, struct guest_mem *gm,
		     const struct kernel_info *ki, const struct boot_config *cfg)
{
	uint64_t top = gm->low_size, addr;
	size_t first = cfg->initrd_len, len;
	uint8_t *dst;

	if (!cfg->initrd)
		return 0;
	if (cfg->initrd2_len)
		first = (first + 3) & ~(size_t)3;
	len = first + cfg->initrd2_len;
	if ((uint64_t)bp->hdr.initrd_addr_max + 1 < top)
		top = (uint64_t)bp->hdr.initrd_addr_max + 1;
	if (len < first || len > top || top - len < ki->end || len > UINT32_MAX)
		return err_set(EFBIG, "initrd (%zu bytes) does not fit in guest "
			       "RAM (%llu MiB) above the kernel", len,
			       (unsigned long long)gm->ram_size >> 20);
	addr = (top - len) & ~0xfffULL;
	dst = gm_ptr(gm, addr, len);
	if (!dst || addr < ki->end)
		return err_set(EFBIG, "initrd does not fit in guest RAM");
	memcpy(dst, cfg->initrd, cfg->initrd_len);
	memset(dst + cfg->initrd_len, 0, first - cfg->initrd_len);
	if (cfg->initrd2_len)
		memcpy(dst + first, cfg->initrd2, cfg->initrd2_len);
	bp->hdr.ramdisk_image = (uint32_t)addr;
	bp->hdr.ramdisk_size = (uint32_t)len;
	return 0;
}

static int bp_rng(struct boot_params *bp, struct guest_mem *gm,
		  const uint8_t *seed)
{
	struct setup_data sd = { .next = 0, .type = SETUP_RNG_SEED,
				 .len = BOOT_RNG_SEED_LEN };
	uint8_t *dst = gm_ptr(gm, BOOT_RNG_ADDR, sizeof(sd) + BOOT_RNG_SEED_LEN);

	if (!seed)
		return 0;
	if (!dst)
		return err_set(EFAULT, "no room for the RNG seed");
	memcpy(dst, &sd, sizeof(sd));
	memcpy(dst + sizeof(sd), seed, BOOT_RNG_SEED_LEN);
	bp->hdr.setup_data = BOOT_RNG_ADDR;
	return 0;
}

int bp_setup(struct guest_mem *gm, const struct kernel_info *ki,
	     const struct boot_config *cfg)
{
	struct boot_params *bp = gm_ptr(gm, BOOT_ZERO_PAGE, sizeof(*bp));
	size_t cmdlen = strlen(cfg->cmdline);
	size_t cmdmax = BOOT_CMDLINE_MAX;
	char *cmd = gm_ptr(gm, BOOT_CMDLINE_ADDR, BOOT_CMDLINE_MAX);
	int rc;

	if (!bp || !cmd || gm->low_size <= BOOT_HIMEM)
		return err_set(EINVAL, "guest RAM too small for the boot data");
	memset(bp, 0, sizeof(*bp));
	if (ki->bzimage) {
		bp->hdr = ki->hdr;
		if (bp->hdr.cmdline_size && bp->hdr.cmdline_size < cmdmax)
			cmdmax = bp->hdr.cmdline_size;
	} else {
		bp->hdr.version = BP_VERSION;
		bp->hdr.initrd_addr_max = 0x7fffffff;
		bp->hdr.kernel_alignment = 0x200000;
	}
	if (cmdlen + 1 > cmdmax)
		return err_set(E2BIG, "kernel command line is %zu bytes, the "
			       "limit is %zu", cmdlen, cmdmax - 1);
	memcpy(cmd, cfg->cmdline, cmdlen + 1);
	bp->hdr.boot_flag = 0xaa55;
	bp->hdr.header = BP_HDR_MAGIC;
	bp->hdr.type_of_loader = BP_LOADER_UNDEFINED;
	bp->hdr.loadflags |= LOADED_HIGH;
	bp->hdr.cmd_line_ptr = BOOT_CMDLINE_ADDR;
	bp->hdr.cmdline_size = (uint32_t)cmdlen;
	bp_e820(bp, gm);
	if ((rc = bp_initrd(bp, gm, ki, cfg)) < 0)
		return rc;
	return bp_rng(bp, gm, cfg->rng_seed);
}
