#include "mem.h"

void gm_layout(struct guest_mem *gm, uint64_t ram_size)
{
	gm->ram_size = ram_size;
	gm->low_size = ram_size < GM_HOLE_START ? ram_size : GM_HOLE_START;
}

uint64_t gm_end(const struct guest_mem *gm)
{
	if (gm->ram_size > gm->low_size)
		return GM_4G + (gm->ram_size - gm->low_size);
	return gm->low_size;
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t last;

	/* The wrap check comes first: a descriptor of addr 2^64-8, len 16
	 * must not pass the range checks below by overflowing (the class of
	 * bug behind CVE-2020-27174-style out-of-bounds virtio accesses). */
	if (len && __builtin_add_overflow(gpa, len - 1, &last))
		return NULL;
	if (!len)
		last = gpa;
	if (last < gm->low_size)
		return gm->host + gpa;
	if (gpa < GM_4G || gm->ram_size == gm->low_size)
		return NULL; /* in or across the hole, or past low RAM */
	if (last - GM_4G >= gm->ram_size - gm->low_size)
		return NULL;
	return gm->host + gm->low_size + (gpa - GM_4G);
}
