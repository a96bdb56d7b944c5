/* Kernel image loader. Everything read from the file is untrusted: each
 * offset and size is checked against the file length and each destination
 * against guest RAM through gm_ptr() before a byte is copied. */
#include "boot.h"
#include "vmm/core/err.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#define LOADER_MAX_PHDRS 64
#define MIB(x) ((unsigned long long)(x) >> 20)

static bool range_in(uint64_t off, uint64_t len, uint64_t total)
{
	return off <= total && len <= total - off;
}

/* Copies one PT_LOAD segment; the kernel must sit in low RAM above 1 MiB
 * (it runs identity-mapped at entry and below 1 MiB are our tables). */
static int loader_segment(struct guest_mem *gm, const uint8_t *img,
			  size_t len, const Elf64_Phdr *ph)
{
	uint8_t *dst;
	uint64_t end;

	if (ph->p_filesz > ph->p_memsz || !range_in(ph->p_offset, ph->p_filesz, len))
		return err_set(ENOEXEC, "truncated or corrupt ELF: segment at "
			       "file offset 0x%llx, size 0x%llx, file is %zu bytes",
			       (unsigned long long)ph->p_offset,
			       (unsigned long long)ph->p_filesz, len);
	if (ph->p_paddr < BOOT_HIMEM)
		return err_set(ENOEXEC, "ELF segment at 0x%llx lies below 1 MiB",
			       (unsigned long long)ph->p_paddr);
	if (__builtin_add_overflow(ph->p_paddr, ph->p_memsz, &end) ||
	    end > gm->low_size || !(dst = gm_ptr(gm, ph->p_paddr, ph->p_memsz)))
		return err_set(EFBIG, "kernel does not fit in guest RAM: segment "
			       "0x%llx+%llu MiB, RAM below the hole is %llu MiB",
			       (unsigned long long)ph->p_paddr, MIB(ph->p_memsz),
			       MIB(gm->low_size));
	memcpy(dst, img + ph->p_offset, ph->p_filesz);
	memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	return 0;
}

static int loader_elf(struct guest_mem *gm, const uint8_t *img, size_t len,
		      struct kernel_info *ki)
{
	Elf64_Ehdr eh;
	bool entry_ok = false;
	int rc;

	if (len < EI_NIDENT || img[EI_CLASS] != ELFCLASS64)
		return err_set(ENOEXEC, "not a 64-bit ELF file (need an x86-64 vmlinux)");
	if (len < sizeof(eh))
		return err_set(ENOEXEC, "truncated ELF header (%zu bytes)", len);
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return err_set(ENOEXEC, "ELF file for another architecture "
			       "(e_machine %u), need x86-64 (%u)",
			       eh.e_machine, EM_X86_64);
	if (eh.e_type != ET_EXEC)
		return err_set(ENOEXEC, "ELF file is not an executable (e_type %u)",
			       eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > LOADER_MAX_PHDRS ||
	    !range_in(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len))
		return err_set(ENOEXEC, "truncated or corrupt ELF program headers (phoff 0x%llx, "
			       "phnum %u, phentsize %u)",
			       (unsigned long long)eh.e_phoff, eh.e_phnum,
			       eh.e_phentsize);
	ki->start = UINT64_MAX;
	ki->end = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if ((rc = loader_segment(gm, img, len, &ph)) < 0)
			return rc;
		if (ph.p_paddr < ki->start)
			ki->start = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > ki->end)
			ki->end = ph.p_paddr + ph.p_memsz;
		/* vmlinux's e_entry is physical; accept a virtual one too. */
		if (eh.e_entry - ph.p_paddr < ph.p_memsz) {
			ki->entry = eh.e_entry;
			entry_ok = true;
		} else if (eh.e_entry - ph.p_vaddr < ph.p_memsz) {
			ki->entry = ph.p_paddr + (eh.e_entry - ph.p_vaddr);
			entry_ok = true;
		}
	}
	if (!ki->end)
		return err_set(ENOEXEC, "ELF file has no loadable segment");
	if (!entry_ok)
		return err_set(ENOEXEC, "ELF entry point 0x%llx is outside the "
			       "loaded segments", (unsigned long long)eh.e_entry);
	return 0;
}

static int loader_bzimage(struct guest_mem *gm, const uint8_t *img, size_t len,
			  struct kernel_info *ki)
{
	struct setup_header *h = &ki->hdr;
	uint64_t setup_size, ksize, need, end;
	uint8_t *dst;

	if (len < 0x1f1 + sizeof(*h))
		return err_set(ENOEXEC, "truncated bzImage (%zu bytes)", len);
	memcpy(h, img + 0x1f1, sizeof(*h));
	if (h->version < 0x020c || !(h->xloadflags & XLF_KERNEL_64))
		return err_set(ENOEXEC, "bzImage boot protocol %u.%02u has no "
			       "64-bit entry (need 2.12 with XLF_KERNEL_64)",
			       h->version >> 8, h->version & 0xff);
	setup_size = ((uint64_t)(h->setup_sects ? h->setup_sects : 4) + 1) * 512;
	if (setup_size >= len)
		return err_set(ENOEXEC, "truncated bzImage: setup is %llu bytes, "
			       "file %zu", (unsigned long long)setup_size, len);
	ksize = len - setup_size;
	need = h->init_size > ksize ? h->init_size : ksize;
	if (h->pref_address < BOOT_HIMEM ||
	    __builtin_add_overflow(h->pref_address, need, &end) ||
	    end > gm->low_size || !(dst = gm_ptr(gm, h->pref_address, need)))
		return err_set(EFBIG, "kernel does not fit in guest RAM: needs "
			       "%llu MiB at 0x%llx, RAM below the hole is %llu MiB",
			       MIB(need), (unsigned long long)h->pref_address,
			       MIB(gm->low_size));
	memcpy(dst, img + setup_size, ksize);
	ki->bzimage = true;
	ki->start = h->pref_address;
	ki->end = end;
	ki->entry = h->pref_address + 0x200; /* startup_64 */
	return 0;
}

int loader_load(struct guest_mem *gm, const uint8_t *img, size_t len,
		struct kernel_info *ki)
{
	memset(ki, 0, sizeof(*ki));
	if (len == 0)
		return err_set(ENOEXEC, "file is empty");
	if (len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0)
		return loader_elf(gm, img, len, ki);
	if (len >= 0x206 && img[0x1fe] == 0x55 && img[0x1ff] == 0xaa &&
	    memcmp(img + 0x202, "HdrS", 4) == 0)
		return loader_bzimage(gm, img, len, ki);
	return err_set(ENOEXEC, "not an ELF vmlinux or bzImage");
}
