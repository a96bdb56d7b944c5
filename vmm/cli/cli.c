#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void cli_run_usage(void)
{
	printf("usage: msbvm run [options] IMAGE [options] [[--] CMD [ARG...]]\n"
	       "       msbvm run --rootfs ROOT.ext4|DIR [options] [-- CMD [ARG...]]\n"
	       "       msbvm run --spec SPEC.json [options] [IMAGE --] [CMD [ARG...]]\n"
	       "       msbvm run -d --name NAME (IMAGE | --rootfs ROOT.ext4) [options]\n"
	       "       msbvm run --initrd FILE [options]   (no agent)\n"
	       "\n"
	       "IMAGE is an OCI/Docker image reference (alpine, python:3.12-slim,\n"
	       "localhost:5000/app@sha256:...), pulled on first use (msbvm pull).\n"
	       "Its read-only base image is shared by every VM of that image; the\n"
	       "VM writes to an overlay upper layer of its own (a sparse scratch\n"
	       "disk deleted with the VM; --tmpfs-upper: guest RAM). CMD replaces\n"
	       "the image's Cmd, --entrypoint its Entrypoint; its Env, WorkingDir\n"
	       "and User are the defaults of every command (run's and exec's).\n"
	       "\n"
	       "Boot a microVM. By default the guest agent (agentd) is PID 1: it\n"
	       "mounts IMAGE as the root and runs CMD (default /bin/sh) with its\n"
	       "stdio connected to ours; msbvm exits with CMD's exit status\n"
	       "(128+N if a signal N ended it) and the VM is powered off. The\n"
	       "guest console goes to kernel.log in the VM's state directory.\n"
	       "With --initrd (or --no-agent) the kernel runs that initrd's (or\n"
	       "the root's) own init, the console goes to standard output, and\n"
	       "msbvm exits when the guest reboots or powers off.\n"
	       "\n"
	       "  -d, --detach      keep the VM running in the background once its\n"
	       "                    agent is ready (then: msbvm exec/cp/stop NAME)\n"
	       "  --name NAME       name of the VM (default vm-PID)\n"
	       "  --state-dir DIR   state root (default $MSBVM_STATE_DIR,\n"
	       "                    $XDG_RUNTIME_DIR/msbvm, or /run/msbvm)\n"
	       "  -e, --env K=V     environment for CMD (repeatable)\n"
	       "  -w, --workdir DIR working directory for CMD (default /)\n"
	       "  -u, --user U      NAME, UID or UID:GID for CMD (default root)\n"
	       "  -t, --tty / -T, --no-tty\n"
	       "                    run CMD on a pty (default: when stdin and\n"
	       "                    stdout are terminals)\n"
	       "  --init auto|PATH  hand PID 1 to a real init (systemd, busybox,\n"
	       "                    OpenRC, s6, runit) after the agent's setup; the\n"
	       "                    agent keeps serving as its child. auto probes\n"
	       "                    /sbin/init, /lib/systemd/systemd,\n"
	       "                    /usr/lib/systemd/systemd\n"
	       "  --init-arg ARG    argument for the init (repeatable; default none)\n"
	       "  --init-env K=V    environment for the init, merged over the\n"
	       "                    inherited one (repeatable)\n"
	       "  --no-agent        boot the root file system's own init\n"
	       "  -v, --volume HOSTDIR:GUESTDIR[:ro]\n"
	       "                    share a host directory over virtio-fs, mounted\n"
	       "                    at GUESTDIR (absolute; made if missing) before\n"
	       "                    CMD or the init runs; :ro refuses writes\n"
	       "                    (EROFS). Files the guest creates belong to\n"
	       "                    you on the host (repeatable, at most 8)\n"
	       "  --script NAME=HOSTFILE\n"
	       "                    install HOSTFILE as /.msb/scripts/NAME (mode\n"
	       "                    0755; on PATH for CMD and msbvm exec)\n"
	       "  --spec FILE.json  a sandbox spec (docs/spec.md): image or rootfs,\n"
	       "                    memory, cpus, init, env, workdir, volumes,\n"
	       "                    scripts, patches; flags given here override\n"
	       "                    its fields, lists add to them\n"
	       "  --upper-size MIB  the overlay's writes go to a sparse scratch\n"
	       "                    disk of MIB (default for images: %d)\n"
	       "\n"
	       "  --kernel FILE     ELF vmlinux or bzImage (default: $MSBVM_KERNEL,\n"
	       "                    else build/vmlinux next to the msbvm binary)\n"
	       "  --initrd FILE     initramfs (uncompressed cpio is fastest)\n"
	       "  --cmdline STR     replace the default kernel command line\n"
	       "  --append STR      add to the kernel command line\n"
	       "  --entrypoint CMD  replace the image's Entrypoint (and drop its Cmd)\n"
	       "  --tmpfs-upper     an image VM's writes go to guest RAM (tmpfs)\n"
	       "  --rootfs IMAGE    boot with IMAGE (ext4) as the root disk,\n"
	       "                    /dev/vda, mounted read-write\n"
	       "  --rootfs DIR      a host directory as the root: shared read-only\n"
	       "                    over virtio-fs under an overlay whose writes go\n"
	       "                    to guest RAM (tmpfs; --upper-size: a disk);\n"
	       "                    DIR is never modified\n"
	       "  --overlay tmpfs|UPPER.ext4\n"
	       "                    keep IMAGE unchanged (attached read-only,\n"
	       "                    shareable by many VMs): writes go to an\n"
	       "                    overlay upper layer in guest RAM (tmpfs)\n"
	       "                    or in an ext4 image of this VM (/dev/vdb)\n"
	       "  --disk PATH[,ro]  add a virtio-blk disk (raw image; repeatable;\n"
	       "                    ro: read-only, writes refused by the device)\n"
	       "  --net user|none   network (default user: NAT through the host,\n"
	       "                    guest 10.0.2.15, host loopback at 10.0.2.2,\n"
	       "                    DNS 10.0.2.3; agent mode sets eth0 up)\n"
	       "  --dns IP          the guest's DNS server instead of 10.0.2.3\n"
	       "  -p, --publish [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]\n"
	       "                    forward a host port to the guest (repeatable;\n"
	       "                    HOSTIP defaults to 127.0.0.1: ask for 0.0.0.0\n"
	       "                    to accept other machines; tcp by default)\n"
	       "  --memory MIB      guest RAM in MiB (default %d, minimum %d)\n"
	       "  --console         interactive: stdin goes to the guest console\n"
	       "                    (raw terminal; Ctrl-A x quits)\n"
	       "  --seccomp on|log|off\n"
	       "                    per-thread seccomp filters on the VMM's threads\n"
	       "                    (default on: a forbidden system call stops the\n"
	       "                    VMM, naming it; log: allowed and logged to the\n"
	       "                    audit log, for finding what new code needs)\n"
	       "  --nested-workarounds auto|on|off\n"
	       "                    kernel arguments for nested paravirtual KVM\n"
	       "                    hosts (default auto: on where detected)\n"
	       "  --verbose         say what msbvm decides and print exit counts\n"
	       "  --report FILE     write phase times, VM exits, CPU time and VMM\n"
	       "                    memory as JSON at exit (tools/bench reads it)\n"
	       "  --profile FILE    sample guest RIP every 5 ms into FILE\n"
	       "                    (tools/profile-report.sh reads it)\n"
	       "  -h, --help        this text\n",
	       MSBVM_SCRATCH_MIB, CLI_MEM_DEFAULT_MIB, CLI_MEM_MIN_MIB);
}

static char cli_err[512];

int cli_fail(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cli_err, sizeof(cli_err), fmt, ap);
	va_end(ap);
	return -errnum;
}

const char *cli_errmsg(void)
{
	return cli_err[0] ? cli_err : "unknown error";
}

int cli_exec_opt(int opt, const char *arg, const char *cmd,
		 struct cli_exec_args *a)
{
	switch (opt) {
	case 'w': a->workdir = arg; return 1;
	case 'u': a->user = arg; return 1;
	case 't': a->tty = 1; return 1;
	case 'T': a->tty = 0; return 1;
	case 'e':
		if (a->n_env == CLI_MAX_ENV || !strchr(arg, '=') || *arg == '=')
			return cli_fail(EINVAL, "%s: --env '%s': expected NAME=VALUE "
					"(at most %d)", cmd, arg, CLI_MAX_ENV);
		a->env[a->n_env++] = arg;
		return 1;
	default:
		return 0;
	}
}

#define CLI_EXEC_USAGE "usage: msbvm exec [-d] [-e K=V] [-w DIR] [-u USER] " \
	"[-t|-T] NAME -- CMD [ARG...]"

int cli_parse_exec(int argc, char **argv, struct exec_opts *o)
{
	static const struct option lo[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "detach", no_argument, NULL, 'd' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "tty", no_argument, NULL, 't' },
		{ "no-tty", no_argument, NULL, 'T' },
		{ 0 },
	};
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->x.tty = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:de:w:u:tT", lo, NULL)) != -1) {
		if (c == 's') {
			o->state_dir = optarg;
			continue;
		}
		if (c == 'd') {
			o->detach = true;
			continue;
		}
		if (c == ':')
			return cli_fail(EINVAL, "exec: option %s needs a value",
					argv[optind - 1]);
		if ((rc = cli_exec_opt(c, optarg, "exec", &o->x)) < 0)
			return rc;
		if (rc == 0)
			return cli_fail(EINVAL, "exec: bad option '%s' (" CLI_EXEC_USAGE
					")", argv[optind - 1]);
	}
	if (argc - optind < 2)
		return cli_fail(EINVAL, CLI_EXEC_USAGE);
	o->name = argv[optind++];
	if (!strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc)
		return cli_fail(EINVAL, "exec: no command given");
	o->cmd = argv + optind;
	if (o->detach && o->x.tty == 1)
		return cli_fail(EINVAL, "exec: -d runs the command without a "
				"terminal; drop -t");
	return 0;
}

/* Is there a "--" after argv[i] (i itself not being one)? */
static bool cli_later_dashdash(int argc, char **argv, int i)
{
	if (i >= argc || !strcmp(argv[i - 1], "--"))
		return false;
	for (int j = i + 1; j < argc; j++)
		if (!strcmp(argv[j], "--"))
			return true;
	return false;
}

int cli_parse_disk(const char *spec, char *path, size_t path_len, bool *ro)
{
	const char *comma = strrchr(spec, ',');
	size_t n = comma ? (size_t)(comma - spec) : strlen(spec);

	*ro = false;
	if (comma && !strcmp(comma + 1, "ro"))
		*ro = true;
	else if (comma && strcmp(comma + 1, "rw"))
		return cli_fail(EINVAL, "--disk '%s': unknown option '%s' (use "
				"PATH, PATH,ro or PATH,rw)", spec, comma + 1);
	if (n == 0 || n >= path_len)
		return cli_fail(EINVAL, "--disk '%s': bad path", spec);
	memcpy(path, spec, n);
	path[n] = '\0';
	return 0;
}

static int cli_nested(const char *s, enum msbvm_nested *m)
{
	if (!strcmp(s, "auto"))
		*m = MSBVM_NESTED_AUTO;
	else if (!strcmp(s, "on"))
		*m = MSBVM_NESTED_ON;
	else if (!strcmp(s, "off"))
		*m = MSBVM_NESTED_OFF;
	else
		return cli_fail(EINVAL, "--nested-workarounds '%s': use auto, on "
				"or off", s);
	return 0;
}

static int cli_seccomp(const char *s, enum msbvm_seccomp *m)
{
	if (!strcmp(s, "on"))
		*m = MSBVM_SECCOMP_ON;
	else if (!strcmp(s, "log"))
		*m = MSBVM_SECCOMP_LOG;
	else if (!strcmp(s, "off"))
		*m = MSBVM_SECCOMP_OFF;
	else
		return cli_fail(EINVAL, "--seccomp '%s': use on, log or off", s);
	return 0;
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
	return cli_fail(EINVAL, "--memory '%s': must be a whole number of MiB "
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

/* repeatable options into their lists */
static int cli_push(const char **list, unsigned *n, unsigned max,
		    const char *v, const char *what)
{
	if (*n == max)
		return cli_fail(EINVAL, "run: at most %u %s options", max, what);
	list[(*n)++] = v;
	return 0;
}

enum { OPT_CMDLINE = 256, OPT_APPEND, OPT_NESTED, OPT_CONSOLE, OPT_PROFILE,
       OPT_ROOTFS, OPT_DISK, OPT_NAME, OPT_STATE, OPT_NO_AGENT, OPT_INIT,
       OPT_INIT_ARG, OPT_INIT_ENV, OPT_REPORT, OPT_OVERLAY, OPT_ENTRYPOINT,
       OPT_TMPFS_UPPER, OPT_NET, OPT_DNS, OPT_SECCOMP, OPT_VERBOSE, OPT_SCRIPT,
       OPT_SPEC, OPT_UPPER_SIZE };

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
		{ "seccomp", required_argument, NULL, OPT_SECCOMP },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "volume", required_argument, NULL, 'v' },
		{ "script", required_argument, NULL, OPT_SCRIPT },
		{ "spec", required_argument, NULL, OPT_SPEC },
		{ "upper-size", required_argument, NULL, OPT_UPPER_SIZE },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "rootfs", required_argument, NULL, OPT_ROOTFS },
		{ "overlay", required_argument, NULL, OPT_OVERLAY },
		{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
		{ "tmpfs-upper", no_argument, NULL, OPT_TMPFS_UPPER },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "help", no_argument, NULL, 'h' },
		{ "detach", no_argument, NULL, 'd' },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "tty", no_argument, NULL, 't' },
		{ "no-tty", no_argument, NULL, 'T' },
		{ "no-agent", no_argument, NULL, OPT_NO_AGENT },
		{ "init", required_argument, NULL, OPT_INIT },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "init-arg", required_argument, NULL, OPT_INIT_ARG },
		{ "init-env", required_argument, NULL, OPT_INIT_ENV },
		{ "net", required_argument, NULL, OPT_NET },
		{ "dns", required_argument, NULL, OPT_DNS },
		{ "publish", required_argument, NULL, 'p' },
		{ 0 },
	};
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->mem_mib = CLI_MEM_DEFAULT_MIB;
	o->x.tty = -1;
	opterr = 0;
	optind = 1;
	/* options may come on both sides of an image reference, as in
	 * `msbvm run IMAGE --init auto -- bash`: a second pass after it */
	for (;;) {
		while ((c = getopt_long(argc, argv, "+:k:i:m:v:hde:w:u:tTp:", lo, NULL)) != -1) {
			switch (c) {
			case 'k': o->kernel = optarg; break;
			case 'i': o->initrd = optarg; break;
			case OPT_CMDLINE: o->cmdline = optarg; break;
			case OPT_APPEND: o->append = optarg; break;
			case OPT_CONSOLE: o->console = true; break;
			case OPT_PROFILE: o->profile = optarg; break;
			case OPT_ROOTFS: o->rootfs = optarg; break;
			case OPT_OVERLAY: o->overlay = optarg; break;
			case OPT_ENTRYPOINT: o->entrypoint = optarg; break;
			case OPT_TMPFS_UPPER: o->overlay = "tmpfs"; break;
			case OPT_DISK:
				if (o->n_disks == CLI_MAX_DISKS)
					return cli_fail(EINVAL, "run: at most %d --disk options",
						       CLI_MAX_DISKS);
				o->disks[o->n_disks++] = optarg;
				break;
			case OPT_VERBOSE: o->verbose = true; break;
			case 'v':
				if ((rc = cli_push(o->vols, &o->n_vols, CLI_MAX_VOLUMES,
						   optarg, "-v")) < 0)
					return rc;
				break;
			case OPT_SCRIPT:
				if ((rc = cli_push(o->scripts, &o->n_scripts, CLI_MAX_SCRIPTS,
						   optarg, "--script")) < 0)
					return rc;
				break;
			case OPT_SPEC: o->spec = optarg; break;
			case OPT_UPPER_SIZE:
				if (cli_parse_mib(optarg, 64, 1u << 20, &o->upper_mib) < 0)
					return cli_fail(EINVAL, "run: --upper-size '%s': a whole "
						       "number of MiB from 64 to 1048576", optarg);
				break;
			case 'd': o->detach = true; break;
			case OPT_NAME: o->name = optarg; break;
			case OPT_STATE: o->state_dir = optarg; break;
			case OPT_NO_AGENT: o->no_agent = true; break;
			case OPT_NET:
				if (strcmp(optarg, "user") && strcmp(optarg, "none"))
					return cli_fail(EINVAL, "run: --net '%s': use user or "
						       "none", optarg);
				o->net = strcmp(optarg, "none") ? MSBVM_NET_USER
								: MSBVM_NET_NONE;
				o->net_given = true;
				break;
			case OPT_DNS: o->dns = optarg; break;
			case 'p':
				if (o->n_ports == CLI_MAX_PORTS)
					return cli_fail(EINVAL, "run: at most %d -p options",
						       CLI_MAX_PORTS);
				o->ports[o->n_ports++] = optarg;
				break;
			case OPT_REPORT: o->report = optarg; break;
			case OPT_INIT:
				if (strcmp(optarg, "auto") && optarg[0] != '/')
					return cli_fail(EINVAL, "run: --init '%s': use auto or an "
						       "absolute path inside the guest", optarg);
				o->init = optarg;
				break;
			case OPT_INIT_ARG:
				if (o->n_init_args == CLI_MAX_ENV)
					return cli_fail(EINVAL, "run: at most %d --init-arg", CLI_MAX_ENV);
				o->init_args[o->n_init_args++] = optarg;
				break;
			case OPT_INIT_ENV:
				if (o->n_init_env == CLI_MAX_ENV || !strchr(optarg, '=') || *optarg == '=')
					return cli_fail(EINVAL, "run: --init-env '%s': expected "
						       "NAME=VALUE (at most %d)", optarg, CLI_MAX_ENV);
				o->init_env[o->n_init_env++] = optarg;
				break;
			case 'e': case 'w': case 'u': case 't': case 'T':
				if ((rc = cli_exec_opt(c, optarg, "run", &o->x)) < 0)
					return rc;
				break;
			case 'h': cli_run_usage(); return 1;
			case 'm':
				rc = cli_parse_mib(optarg, CLI_MEM_MIN_MIB, cli_host_mib(),
						   &o->mem_mib);
				if (rc < 0)
					return rc;
				o->mem_given = true;
				break;
			case OPT_NESTED:
				if ((rc = cli_nested(optarg, &o->nested)) < 0)
					return rc;
				break;
			case OPT_SECCOMP:
				if ((rc = cli_seccomp(optarg, &o->seccomp)) < 0)
					return rc;
				break;
			case ':':
				return cli_fail(EINVAL, "run: option %s needs a value",
					       argv[optind - 1]);
			default:
				return cli_fail(EINVAL, "run: unknown option '%s' (try "
					       "msbvm run --help)", argv[optind - 1]);
			}
		}
		/* with a spec, what follows is the command, unless a later
		 * "--" says it is the image: run --spec S IMAGE -- CMD */
		if (o->image || o->rootfs || o->initrd || o->no_agent ||
		    (o->spec && !cli_later_dashdash(argc, argv, optind)) ||
		    optind >= argc ||
		    !strcmp(argv[optind - 1], "--"))
			break;
		o->image = argv[optind++];
	}
	if (optind < argc)
		o->cmd = argv + optind;
	if (o->entrypoint && !o->image && !o->spec)
		return cli_fail(EINVAL, "run: --entrypoint needs an IMAGE");
	if (o->initrd || o->no_agent) {
		o->no_agent = true;
		if (o->cmd || o->detach || o->init || o->n_vols || o->n_scripts ||
		    o->spec)
			return cli_fail(EINVAL, "run: a command, -d, --init, -v, --script "
				       "and --spec need the agent; drop "
				       "--initrd/--no-agent");
	}
	else if (!o->rootfs && !o->image && !o->spec)
		return cli_fail(EINVAL, "run: an IMAGE reference or --rootfs ROOT.ext4 "
			       "is needed (the agent mounts it as /), or --initrd "
			       "FILE to boot without the agent");
	if ((o->n_init_args || o->n_init_env) && !o->init)
		return cli_fail(EINVAL, "run: --init-arg/--init-env need --init");
	if (o->detach && o->cmd)
		return cli_fail(EINVAL, "run: -d runs no command; start the VM, then "
			       "use msbvm exec NAME -- CMD");
	if (o->detach && !o->name)
		return cli_fail(EINVAL, "run: -d needs --name NAME");
	return 0;
}
