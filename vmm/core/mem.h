/* Guest physical memory: one host mapping, split around the 32-bit MMIO
 * hole. gm_ptr() is the single checked accessor every piece of the VMM uses
 * to reach guest memory. */
#ifndef MSBVM_MEM_H
#define MSBVM_MEM_H

#include <stddef.h>
#include <stdint.h>

/* RAM below the hole ends at most here; [GM_HOLE_START, 4 GiB) is MMIO. */
#define GM_HOLE_START 0xC0000000ULL
#define GM_4G 0x100000000ULL

struct guest_mem {
	uint8_t *host;     /* ram_size bytes */
	uint64_t ram_size; /* total guest RAM */
	uint64_t low_size; /* RAM mapped at [0, low_size) */
	/* the rest, ram_size - low_size, is mapped at [4 GiB, ...) */
};

/* Lays out ram_size bytes around the hole (host must be set by caller). */
void gm_layout(struct guest_mem *gm, uint64_t ram_size);

/* Host pointer for [gpa, gpa+len) if the whole range is guest RAM: rejects
 * ranges past the end of RAM, ranges that wrap 2^64 and ranges that cross
 * the MMIO hole. len 0 is accepted for any gpa inside RAM. NULL otherwise. */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Highest guest-physical address + 1 (end of the high region or low). */
uint64_t gm_end(const struct guest_mem *gm);

#endif
