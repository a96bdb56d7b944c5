/* gm_ptr(): the one checked accessor to guest memory. */
#include "check.h"
#include "vmm/core/mem.h"

#include <stdint.h>
#include <stdlib.h>

int main(void)
{
	static uint8_t ram[1 << 16];
	struct guest_mem small = { .host = ram };
	struct guest_mem big = { .host = ram };

	gm_layout(&small, sizeof(ram));
	CHECK(small.low_size == sizeof(ram));
	CHECK(gm_ptr(&small, 0, 1) == ram);
	CHECK(gm_ptr(&small, sizeof(ram) - 1, 1) == ram + sizeof(ram) - 1);
	CHECK(gm_ptr(&small, sizeof(ram) - 4, 4) != NULL);
	CHECK(gm_ptr(&small, sizeof(ram) - 4, 5) == NULL); /* past the end */
	CHECK(gm_ptr(&small, sizeof(ram), 1) == NULL);
	CHECK(gm_ptr(&small, UINT64_MAX, 1) != ram);
	CHECK(gm_ptr(&small, UINT64_MAX - 7, 16) == NULL); /* wraps 2^64 */
	CHECK(gm_ptr(&small, 16, UINT64_MAX) == NULL);     /* huge length */
	CHECK(gm_ptr(&small, 100, 0) == ram + 100);        /* empty inside */
	CHECK(gm_ptr(&small, sizeof(ram) + 5, 0) == NULL); /* empty outside */
	CHECK(gm_end(&small) == sizeof(ram));

	/* 4 GiB of RAM splits around the hole: 3 GiB low, 1 GiB at 4 GiB.
	 * Only the layout arithmetic is exercised: pointers are compared,
	 * never dereferenced. */
	gm_layout(&big, 4ULL << 30);
	CHECK(big.low_size == GM_HOLE_START);
	CHECK(gm_end(&big) == GM_4G + (1ULL << 30));
	CHECK(gm_ptr(&big, GM_HOLE_START - 8, 8) == ram + GM_HOLE_START - 8);
	CHECK(gm_ptr(&big, GM_HOLE_START - 8, 16) == NULL); /* into the hole */
	CHECK(gm_ptr(&big, GM_HOLE_START, 1) == NULL);      /* in the hole */
	CHECK(gm_ptr(&big, GM_4G - 4, 8) == NULL);          /* across the top */
	CHECK(gm_ptr(&big, GM_4G, 8) == ram + GM_HOLE_START);
	CHECK(gm_ptr(&big, GM_4G + (1ULL << 30) - 8, 8) != NULL);
	CHECK(gm_ptr(&big, GM_4G + (1ULL << 30) - 8, 9) == NULL);
	CHECK(gm_ptr(&big, GM_HOLE_START - 4096, 8192 + GM_4G) == NULL);
	return check_result("test_mem");
}
