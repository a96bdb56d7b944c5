#include "nested.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* CPUID bits set by KVM_SET_CPUID2 are ignored on this host: the guest sees
 * the host's features and the kernel would patch in instructions that the
 * CPL0 emulator lacks (XSAVE family, SMAP's CLAC/STAC, POPCNT, ...), so they
 * are switched off from the command line. rdrand being off, the RNG seed in
 * setup_data plus random.trust_bootloader=on keeps the CRNG from stalling.
 * rodata=off skips making kernel text/rodata read-only at the end of boot:
 * splitting and re-protecting the direct map took ~4 s of emulated kernel
 * code here. It weakens the guest kernel's self-protection, which is why it
 * is only ever added on these development hosts, never on hardware. */
static const char nested_args[] =
	"rodata=off clearcpuid=smap,smep,pku,popcnt,xsave,avx,avx2,bmi1,bmi2,"
	"fsgsbase,erms,fsrm,pcid,invpcid,rdrand,rdseed,movbe,abm,sse4_1,sse4_2,"
	"aes,pclmulqdq,rdpid,umip,clflushopt,clwb,adx,xsaveopt,xsavec,xsaves";

/* Whole-word flag test on the cpuinfo "flags" line. */
static bool nested_has_flag(const char *flags, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *p = flags; (p = strstr(p, flag)); p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' ||
						     p[n] == '\0'))
			return true;
	return false;
}

bool nested_detect(const char *root, char *why, size_t why_len)
{
	char path[256], line[4096];
	FILE *f;
	bool hv = false, virt = false;

	snprintf(path, sizeof(path), "%s/sys/module/kvm_pvm", root);
	if (access(path, F_OK) == 0) {
		snprintf(why, why_len, "the kvm_pvm module is loaded");
		return true;
	}
	snprintf(path, sizeof(path), "%s/proc/cpuinfo", root);
	if (!(f = fopen(path, "r")))
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		hv = nested_has_flag(line, "hypervisor");
		virt = nested_has_flag(line, "vmx") || nested_has_flag(line, "svm");
		break;
	}
	fclose(f);
	if (hv && !virt) {
		snprintf(why, why_len, "a hypervisor is present and the CPU has "
			 "no vmx/svm, so /dev/kvm is paravirtual");
		return true;
	}
	return false;
}

const char *nested_cmdline(void)
{
	return nested_args;
}
