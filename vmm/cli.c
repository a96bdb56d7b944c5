#include "cli.h"
#include "err.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void cli_run_usage(void)
{
	printf("usage: msbvm run [--kernel FILE] [--initrd FILE] [options]\n"
	       "\n"
	       "Boot a Linux kernel in a microVM. The guest console goes to\n"
	       "standard output; msbvm exits when the guest reboots or powers off.\n"
	       "\n"
	       "  --kernel FILE     ELF vmlinux or bzImage (default: $MSBVM_KERNEL,\n"
	       "                    else build/vmlinux next to the msbvm binary)\n"
	       "  --initrd FILE     initramfs (uncompressed cpio is fastest)\n"
	       "  --cmdline STR     replace the default kernel command line\n"
	       "  --append STR      add to the kernel command line\n"
	       "  --rootfs IMAGE    boot with IMAGE (ext4) as the root disk,\n"
	       "                    /dev/vda, mounted read-write\n"
	       "  --disk PATH[,ro]  add a virtio-blk disk (raw image; repeatable;\n"
	       "                    ro: read-only, writes refused by the device)\n"
	       "  --memory MIB      guest RAM in MiB (default %d, minimum %d)\n"
	       "  --console         interactive: stdin goes to the guest console\n"
	       "                    (raw terminal; Ctrl-A x quits)\n"
	       "  --nested-workarounds auto|on|off\n"
	       "                    kernel arguments for nested paravirtual KVM\n"
	       "                    hosts (default auto: on where detected)\n"
	       "  -v, --verbose     say what msbvm decides and print exit counts\n"
	       "  --profile FILE    sample guest RIP every 5 ms into FILE\n"
	       "                    (tools/profile-report.sh reads it)\n"
	       "  -h, --help        this text\n",
	       CLI_MEM_DEFAULT_MIB, CLI_MEM_MIN_MIB);
}

int cli_parse_mib(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return err_set(EINVAL, "--memory '%s': must be a whole number of MiB "
		       "between %llu and %llu", s, (unsigned long long)min,
		       (unsigned long long)max);
}

static uint64_t cli_host_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psz <= 0)
		return 1ULL << 20; /* unknown: 1 TiB */
	return (uint64_t)pages * (uint64_t)psz >> 20;
}

enum { OPT_CMDLINE = 256, OPT_APPEND, OPT_NESTED, OPT_CONSOLE, OPT_PROFILE,
       OPT_ROOTFS, OPT_DISK };

int cli_parse_run(int argc, char **argv, struct run_opts *o)
{
	static const struct option lo[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "memory", required_argument, NULL, 'm' },
		{ "console", no_argument, NULL, OPT_CONSOLE },
		{ "nested-workarounds", required_argument, NULL, OPT_NESTED },
		{ "verbose", no_argument, NULL, 'v' },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "rootfs", required_argument, NULL, OPT_ROOTFS },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->mem_mib = CLI_MEM_DEFAULT_MIB;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:k:i:m:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'i': o->initrd = optarg; break;
		case OPT_CMDLINE: o->cmdline = optarg; break;
		case OPT_APPEND: o->append = optarg; break;
		case OPT_CONSOLE: o->console = true; break;
		case OPT_PROFILE: o->profile = optarg; break;
		case OPT_ROOTFS: o->rootfs = optarg; break;
		case OPT_DISK:
			if (o->n_disks == CLI_MAX_DISKS)
				return err_set(EINVAL, "run: at most %d --disk options",
					       CLI_MAX_DISKS);
			o->disks[o->n_disks++] = optarg;
			break;
		case 'v': log_verbose = 1; break;
		case 'h': cli_run_usage(); return 1;
		case 'm':
			rc = cli_parse_mib(optarg, CLI_MEM_MIN_MIB, cli_host_mib(),
					   &o->mem_mib);
			if (rc < 0)
				return rc;
			break;
		case OPT_NESTED:
			if ((rc = nested_parse(optarg, &o->nested)) < 0)
				return rc;
			break;
		case ':':
			return err_set(EINVAL, "run: option %s needs a value",
				       argv[optind - 1]);
		default:
			return err_set(EINVAL, "run: unknown option '%s' (try "
				       "msbvm run --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return err_set(EINVAL, "run: unexpected argument '%s'", argv[optind]);
	return 0;
}
