/* Kernel loader validation: a good ELF and bzImage load; each malformed
 * variant is refused with a message naming the problem, never a crash
 * (run under ASan/UBSan). */
#include "check.h"
#include "boot/boot.h"
#include "vmm/core/err.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>

#define RAM (32u << 20)
#define KADDR 0x1000000u
#define IMG 8192

static uint8_t *ram;
static struct guest_mem gm;

static size_t make_elf(uint8_t *img)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };

	memset(img, 0, IMG);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_entry = KADDR;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	ph.p_type = PT_LOAD;
	ph.p_offset = 4096;
	ph.p_vaddr = 0xffffffff81000000ULL;
	ph.p_paddr = KADDR;
	ph.p_filesz = 4096;
	ph.p_memsz = 3 * 4096; /* bss after the file part */
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), &ph, sizeof(ph));
	memset(img + 4096, 0xcc, 4096);
	return IMG;
}

static Elf64_Ehdr *ehdr(uint8_t *img) { return (Elf64_Ehdr *)img; }
static Elf64_Phdr *phdr(uint8_t *img) { return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)); }

static int load(uint8_t *img, size_t len, struct kernel_info *ki)
{
	err_clear();
	return loader_load(&gm, img, len, ki);
}

static void test_elf(void)
{
	static uint8_t img[IMG];
	struct kernel_info ki;
	size_t n = make_elf(img);

	memset(ram, 0xaa, RAM);
	CHECK(load(img, n, &ki) == 0);
	CHECK(ki.entry == KADDR && !ki.bzimage);
	CHECK(ki.start == KADDR && ki.end == KADDR + 3 * 4096);
	CHECK(ram[KADDR] == 0xcc && ram[KADDR + 4095] == 0xcc);
	CHECK(ram[KADDR + 4096] == 0 && ram[KADDR + 3 * 4096 - 1] == 0);
	CHECK(ram[KADDR + 3 * 4096] == 0xaa); /* nothing written past memsz */

	/* a virtual e_entry is translated */
	ehdr(img)->e_entry = 0xffffffff81000010ULL;
	CHECK(load(img, n, &ki) == 0 && ki.entry == KADDR + 0x10);

	CHECK(load(img, 0, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "empty");
	CHECK(load((uint8_t *)"#!/bin/sh\necho hi\n", 18, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "not an ELF vmlinux or bzImage");

	make_elf(img);
	CHECK(load(img, 40, &ki) == -ENOEXEC); /* truncated header */
	CHECK_STR_CONTAINS(err_msg(), "truncated");
	CHECK(load(img, 4096 + 100, &ki) == -ENOEXEC); /* truncated segment */
	CHECK_STR_CONTAINS(err_msg(), "truncated or corrupt");

	img[EI_CLASS] = ELFCLASS32;
	CHECK(load(img, n, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "not a 64-bit ELF");

	make_elf(img);
	ehdr(img)->e_machine = EM_AARCH64;
	CHECK(load(img, n, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "another architecture");

	make_elf(img);
	ehdr(img)->e_type = ET_DYN;
	CHECK(load(img, n, &ki) == -ENOEXEC);

	make_elf(img);
	ehdr(img)->e_phoff = IMG - 8; /* headers past the end */
	CHECK(load(img, n, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "program headers");
	ehdr(img)->e_phoff = UINT64_MAX - 16; /* offset wraps */
	CHECK(load(img, n, &ki) == -ENOEXEC);

	make_elf(img);
	ehdr(img)->e_phnum = 60000;
	CHECK(load(img, n, &ki) == -ENOEXEC);

	make_elf(img);
	phdr(img)->p_filesz = phdr(img)->p_memsz + 1;
	CHECK(load(img, n, &ki) == -ENOEXEC);

	make_elf(img);
	phdr(img)->p_offset = UINT64_MAX - 100; /* offset + size wraps */
	CHECK(load(img, n, &ki) == -ENOEXEC);

	make_elf(img);
	phdr(img)->p_paddr = 0x7000; /* over the zero page */
	CHECK(load(img, n, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "below 1 MiB");

	make_elf(img);
	phdr(img)->p_memsz = 64u << 20; /* larger than RAM */
	CHECK(load(img, n, &ki) == -EFBIG);
	CHECK_STR_CONTAINS(err_msg(), "does not fit in guest RAM");

	make_elf(img);
	phdr(img)->p_paddr = UINT64_MAX - 4095; /* wraps 2^64 */
	ehdr(img)->e_entry = UINT64_MAX - 4095;
	CHECK(load(img, n, &ki) == -EFBIG);

	make_elf(img);
	ehdr(img)->e_entry = 0x4000000; /* not in any segment */
	CHECK(load(img, n, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "entry point");

	make_elf(img);
	phdr(img)->p_type = PT_NOTE;
	CHECK(load(img, n, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "no loadable segment");
}

static size_t make_bz(uint8_t *img, struct setup_header **hp)
{
	struct setup_header *h = (struct setup_header *)(img + 0x1f1);

	memset(img, 0, IMG);
	h->setup_sects = 3; /* setup: 4 * 512 bytes */
	h->boot_flag = 0xaa55;
	memcpy(&h->header, "HdrS", 4);
	h->version = 0x020f;
	h->xloadflags = XLF_KERNEL_64;
	h->pref_address = KADDR;
	h->init_size = 1u << 20;
	h->cmdline_size = 2047;
	h->initrd_addr_max = 0x7fffffff;
	memset(img + 2048, 0x90, IMG - 2048);
	*hp = h;
	return IMG;
}

static void test_bzimage(void)
{
	static uint8_t img[IMG];
	struct setup_header *h;
	struct kernel_info ki;
	size_t n = make_bz(img, &h);

	CHECK(load(img, n, &ki) == 0);
	CHECK(ki.bzimage && ki.entry == KADDR + 0x200);
	CHECK(ki.end == KADDR + (1u << 20));
	CHECK(ram[KADDR] == 0x90 && ram[KADDR + IMG - 2048 - 1] == 0x90);

	h->version = 0x0204;
	CHECK(load(img, n, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "64-bit entry");

	make_bz(img, &h);
	h->setup_sects = 200; /* setup longer than the file */
	CHECK(load(img, n, &ki) == -ENOEXEC);
	CHECK_STR_CONTAINS(err_msg(), "truncated bzImage");

	make_bz(img, &h);
	h->init_size = 0xffffffff; /* needs more than RAM */
	CHECK(load(img, n, &ki) == -EFBIG);

	make_bz(img, &h);
	h->pref_address = 0xfffffffffffff000ULL;
	CHECK(load(img, n, &ki) == -EFBIG);

	make_bz(img, &h);
	h->pref_address = 0x8000; /* below 1 MiB */
	CHECK(load(img, n, &ki) == -EFBIG);

	CHECK(load(img, 0x210, &ki) == -ENOEXEC); /* truncated header */
}

int main(void)
{
	ram = malloc(RAM);
	gm.host = ram;
	gm_layout(&gm, RAM);
	test_elf();
	test_bzimage();
	free(ram);
	return check_result("test_loader");
}
