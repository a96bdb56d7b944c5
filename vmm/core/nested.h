/* Nested paravirtual KVM (kvm_pvm) compatibility: the one place that knows
 * about the development hosts' quirks (docs/nested-kvm.md). On hardware KVM
 * none of this applies. */
#ifndef MSBVM_NESTED_H
#define MSBVM_NESTED_H

#include <stdbool.h>
#include <stddef.h>

/* True if this host's /dev/kvm is a nested paravirtual one; why names the
 * evidence. root lets tests point at a fake /sys and /proc ("" = real). */
bool nested_detect(const char *root, char *why, size_t why_len);
/* Kernel command-line words the guest needs on such a host. */
const char *nested_cmdline(void);

#endif
