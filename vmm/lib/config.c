/* msbvm_config: settings with checks at the setter (each rejects bad input
 * with a message naming the value), whole-config validation at create,
 * and the kernel command line the config implies. */
#include "lib.h"
#include "vmm/core/err.h"
#include "vmm/core/nested.h"
#include "vmm/hw/pvport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* quiet + no RTC/PIT probing frills: on nested hosts every console line is
 * hundreds of emulated instructions per byte. reboot=k makes a guest
 * reboot reach our i8042; panic=-1 turns a panic into a reboot at once
 * (kernels without the power-off/panic port driver). */
#define CFG_DEFAULT_CMDLINE \
	"console=ttyS0 reboot=k panic=-1 8250.nr_uarts=1 " \
	"random.trust_bootloader=on quiet"

int cfg_fail(struct msbvm_config *c, int rc)
{
	snprintf(c->err, sizeof(c->err), "%s", err_msg());
	return rc;
}

static int cfg_bad(struct msbvm_config *c, int e, const char *msg, const char *v)
{
	snprintf(c->err, sizeof(c->err), "%s%s%s%s", msg, v ? " '" : "",
		 v ? v : "", v ? "'" : "");
	return -e;
}

const char *msbvm_config_errmsg(const msbvm_config *c)
{
	return c ? c->err : "";
}

msbvm_config *msbvm_config_new(void)
{
	struct msbvm_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->mem_mib = CFG_MEM_DEFAULT_MIB;
	c->cpus = 1;
	c->agent = true;
	c->console_fd = c->console_in_fd = -1;
#ifdef MSBVM_NO_NET
	c->net_off = true; /* the static build has no libslirp */
#endif
	return c;
}

/* Every owned string of c, for free and clone; the sum of fn's results. */
static int cfg_each(struct msbvm_config *c, int (*fn)(char **s))
{
	int sum = 0;

	char **one[] = { &c->kernel, &c->agent_initrd, &c->initrd, &c->rootfs,
			 &c->cmdline, &c->append, &c->name, &c->state_dir,
			 &c->init, &c->profile, &c->overlay, &c->exec_workdir,
			 &c->exec_user, &c->spec_image, &c->spec_workdir };

	for (unsigned i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		sum += fn(one[i]);
	for (unsigned i = 0; i < c->n_disks; i++)
		sum += fn((char **)&c->disks[i].path);
	for (unsigned i = 0; i < c->n_init_args; i++)
		sum += fn(&c->init_args[i]);
	for (unsigned i = 0; i < c->n_init_env; i++)
		sum += fn(&c->init_env[i]);
	for (unsigned i = 0; i < c->n_exec_env; i++)
		sum += fn(&c->exec_env[i]);
	for (unsigned i = 0; i < c->n_spec_env; i++)
		sum += fn(&c->spec_env[i]);
	for (unsigned i = 0; i < c->n_vols; i++)
		sum += fn(&c->vols[i].host) + fn(&c->vols[i].guest);
	for (unsigned i = 0; i < c->n_scripts; i++)
		sum += fn(&c->scripts[i].name) + fn(&c->scripts[i].host) +
		       fn(&c->scripts[i].text);
	return sum;
}

static int cfg_free_one(char **s)
{
	free(*s);
	*s = NULL;
	return 0;
}

static int cfg_dup_one(char **s)
{
	return *s && !(*s = strdup(*s));
}

void msbvm_config_free(msbvm_config *c)
{
	if (!c)
		return;
	cfg_each(c, cfg_free_one);
	cfg_patches_free(c);
	free(c);
}

struct msbvm_config *cfg_clone(const struct msbvm_config *c)
{
	struct msbvm_config *d = malloc(sizeof(*d));

	if (!d)
		return NULL;
	*d = *c;
	d->patches = NULL;
	d->n_patches = 0;
	if (cfg_each(d, cfg_dup_one) || cfg_patches_copy(d, c) < 0) {
		/* a copy failed: free what worked */
		msbvm_config_free(d);
		return NULL;
	}
	return d;
}

static int cfg_str(struct msbvm_config *c, char **dst, const char *v,
		   const char *what)
{
	char *n;

	if (v && !*v)
		return cfg_bad(c, EINVAL, what, ": empty value");
	n = v ? strdup(v) : NULL;
	if (v && !n)
		return cfg_bad(c, ENOMEM, "out of memory", NULL);
	free(*dst);
	*dst = n;
	return 0;
}

static int cfg_push(struct msbvm_config *c, char **list, unsigned *n,
		    const char *v, const char *what)
{
	if (*n == CFG_MAX_LIST) {
		snprintf(c->err, sizeof(c->err), "%s: at most %d", what, CFG_MAX_LIST);
		return -E2BIG;
	}
	list[*n] = NULL;
	if (cfg_str(c, &list[*n], v, what) < 0)
		return -EINVAL;
	(*n)++;
	return 0;
}

int msbvm_config_set_kernel(msbvm_config *c, const char *p)
{
	return cfg_str(c, &c->kernel, p, "kernel");
}

int msbvm_config_set_agent_initrd(msbvm_config *c, const char *p)
{
	return cfg_str(c, &c->agent_initrd, p, "agent initramfs");
}

int msbvm_config_set_agent(msbvm_config *c, bool on)
{
	c->agent = on;
	return 0;
}

int msbvm_config_set_initrd(msbvm_config *c, const char *p)
{
	return cfg_str(c, &c->initrd, p, "initrd");
}

int msbvm_config_set_rootfs(msbvm_config *c, const char *p)
{
	return cfg_str(c, &c->rootfs, p, "rootfs");
}

int msbvm_config_set_overlay(msbvm_config *c, const char *upper)
{
	return cfg_str(c, &c->overlay, upper, "overlay");
}

static bool cfg_kv_ok(const char *kv);

static const char *cfg_nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

int msbvm_config_set_image(msbvm_config *c, const struct msbvm_image_rootfs *r)
{
	int rc;

	if (!r || !r->path)
		return cfg_bad(c, EINVAL, "image: no base image", NULL);
	if ((rc = cfg_str(c, &c->rootfs, r->path, "image base")) < 0 ||
	    (rc = cfg_str(c, &c->exec_workdir, cfg_nonempty(r->workdir),
			  "image WorkingDir")) < 0 ||
	    (rc = cfg_str(c, &c->exec_user, cfg_nonempty(r->user), "image User")) < 0)
		return rc;
	for (unsigned i = 0; i < c->n_exec_env; i++)
		free(c->exec_env[i]);
	c->n_exec_env = 0;
	for (size_t i = 0; r->env && r->env[i]; i++) {
		if (!cfg_kv_ok(r->env[i]))
			continue; /* docker ignores them too */
		if ((rc = cfg_push(c, c->exec_env, &c->n_exec_env, r->env[i],
				   "image Env")) < 0)
			return rc;
	}
	c->image = true;
	return 0;
}

int msbvm_config_add_disk(msbvm_config *c, const char *path, bool ro)
{
	if (c->n_disks == CFG_MAX_DISKS) {
		snprintf(c->err, sizeof(c->err), "at most %d disks besides the root "
			 "disk", CFG_MAX_DISKS);
		return -E2BIG;
	}
	c->disks[c->n_disks].path = NULL;
	if (cfg_str(c, (char **)&c->disks[c->n_disks].path, path, "disk") < 0)
		return -EINVAL;
	c->disks[c->n_disks++].ro = ro;
	return 0;
}

static uint64_t cfg_host_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psz <= 0)
		return 1ULL << 20; /* unknown: 1 TiB */
	return (uint64_t)pages * (uint64_t)psz >> 20;
}

int msbvm_config_set_memory_mib(msbvm_config *c, uint64_t mib)
{
	if (mib < CFG_MEM_MIN_MIB || mib > cfg_host_mib()) {
		snprintf(c->err, sizeof(c->err), "memory %llu MiB: must be between "
			 "%d and %llu MiB (this host's RAM)", (unsigned long long)mib,
			 CFG_MEM_MIN_MIB, (unsigned long long)cfg_host_mib());
		return -EINVAL;
	}
	c->mem_mib = mib;
	return 0;
}

int msbvm_config_set_cpus(msbvm_config *c, unsigned n)
{
	if (n != 1) {
		snprintf(c->err, sizeof(c->err), "cpus %u: only 1 vCPU is supported "
			 "so far", n);
		return -ENOTSUP;
	}
	c->cpus = n;
	return 0;
}

int msbvm_config_set_name(msbvm_config *c, const char *name)
{
	if (name && !state_name_ok(name)) {
		snprintf(c->err, sizeof(c->err), "bad VM name '%s': use 1-%d letters, "
			 "digits, '_', '.' or '-', not starting with '.' or '-'",
			 name, STATE_NAME_MAX);
		return -EINVAL;
	}
	return cfg_str(c, &c->name, name, "name");
}

int msbvm_config_set_state_dir(msbvm_config *c, const char *dir)
{
	return cfg_str(c, &c->state_dir, dir, "state directory");
}

int msbvm_config_set_init(msbvm_config *c, const char *init)
{
	if (init && strcmp(init, "auto") && init[0] != '/')
		return cfg_bad(c, EINVAL, "init must be auto or an absolute path "
			       "inside the guest, not", init);
	return cfg_str(c, &c->init, init, "init");
}

int msbvm_config_add_init_arg(msbvm_config *c, const char *arg)
{
	return cfg_push(c, c->init_args, &c->n_init_args, arg, "init argument");
}

static bool cfg_kv_ok(const char *kv)
{
	return kv && strchr(kv, '=') && kv[0] != '=';
}

int msbvm_config_add_init_env(msbvm_config *c, const char *kv)
{
	if (!cfg_kv_ok(kv))
		return cfg_bad(c, EINVAL, "init environment: expected NAME=VALUE, not",
			       kv ? kv : "");
	return cfg_push(c, c->init_env, &c->n_init_env, kv, "init environment");
}

int msbvm_config_set_cmdline(msbvm_config *c, const char *s)
{
	return cfg_str(c, &c->cmdline, s, "kernel command line");
}

int msbvm_config_append_cmdline(msbvm_config *c, const char *s)
{
	return cfg_str(c, &c->append, s, "kernel command line addition");
}

int msbvm_config_set_console_fd(msbvm_config *c, int fd)
{
	c->console_fd = fd;
	return 0;
}

int msbvm_config_set_console_input(msbvm_config *c, int fd)
{
	c->console_in_fd = fd;
	return 0;
}

int msbvm_config_set_seccomp(msbvm_config *c, enum msbvm_seccomp mode)
{
	if (mode != MSBVM_SECCOMP_ON && mode != MSBVM_SECCOMP_LOG &&
	    mode != MSBVM_SECCOMP_OFF && mode != MSBVM_SECCOMP_TRAP)
		return cfg_bad(c, EINVAL, "seccomp: bad mode", NULL);
	c->seccomp = mode;
	return 0;
}

int msbvm_config_set_nested(msbvm_config *c, enum msbvm_nested mode)
{
	if (mode != MSBVM_NESTED_AUTO && mode != MSBVM_NESTED_ON &&
	    mode != MSBVM_NESTED_OFF)
		return cfg_bad(c, EINVAL, "nested work-arounds: bad mode", NULL);
	c->nested = mode;
	return 0;
}

int msbvm_config_set_profile(msbvm_config *c, const char *path)
{
	return cfg_str(c, &c->profile, path, "profile");
}

int msbvm_config_set_log(msbvm_config *c, msbvm_log_fn fn, void *opaque,
			 bool verbose)
{
	c->log_fn = fn;
	c->log_opaque = opaque;
	c->verbose = verbose;
	return 0;
}

/* The limits agentd enforces on the boot configuration (proto/bootcfg.h),
 * checked here so that the user hears about them before a boot. */
static int cfg_validate_init(const struct msbvm_config *c)
{
	if (c->init && strlen(c->init) > BCFG_MAX_PATH)
		return err_set(ENAMETOOLONG, "--init: path longer than %d bytes",
			       BCFG_MAX_PATH);
	for (unsigned i = 0; i < c->n_init_args; i++)
		if (strlen(c->init_args[i]) > BCFG_MAX_STRING)
			return err_set(E2BIG, "--init-arg %u: longer than %d bytes",
				       i + 1, BCFG_MAX_STRING);
	for (unsigned i = 0; i < c->n_init_env; i++)
		if (strlen(c->init_env[i]) > BCFG_MAX_STRING)
			return err_set(E2BIG, "--init-env %u: longer than %d bytes",
				       i + 1, BCFG_MAX_STRING);
	for (unsigned i = 0; i < c->n_exec_env; i++)
		if (strlen(c->exec_env[i]) > BCFG_MAX_STRING)
			return err_set(E2BIG, "image Env %u: longer than %d bytes",
				       i + 1, BCFG_MAX_STRING);
	if (c->exec_workdir && (c->exec_workdir[0] != '/' ||
				strlen(c->exec_workdir) > BCFG_MAX_WORKDIR))
		return err_set(EINVAL, "image WorkingDir %s: not an absolute path of "
			       "at most %d bytes", c->exec_workdir, BCFG_MAX_WORKDIR);
	if (c->exec_user && strlen(c->exec_user) > BCFG_MAX_USER)
		return err_set(EINVAL, "image User: longer than %d bytes", BCFG_MAX_USER);
	return 0;
}

int cfg_validate(const struct msbvm_config *c)
{
	if (!c->kernel)
		return err_set(EINVAL, "no kernel: set one (--kernel) or "
			       "MSBVM_KERNEL");
	if (c->initrd && c->agent)
		return err_set(EINVAL, "an initrd of your own replaces the agent: "
			       "turn the agent off to use it");
	if (c->agent && !c->agent_initrd)
		return err_set(ENOENT, "agent initramfs not set: build it with "
			       "`make` (build/agentd.cpio) or set MSBVM_AGENT_INITRD");
	if (c->agent && !c->rootfs)
		return err_set(EINVAL, "a root file system image (--rootfs) is "
			       "needed: the agent mounts it as /");
	if (!c->agent && c->init)
		return err_set(EINVAL, "--init needs the agent");
	if ((c->n_init_args || c->n_init_env) && !c->init)
		return err_set(EINVAL, "--init-arg/--init-env need --init");
	const char *upper = cfg_overlay(c);
	if (upper && !c->agent)
		return err_set(EINVAL, "--overlay and images need the agent (it "
			       "mounts the overlay)");
	if (upper && strcmp(upper, "tmpfs") && c->n_disks == CFG_MAX_DISKS)
		return err_set(E2BIG, "--overlay IMAGE takes a disk slot: at most %d "
			       "--disk with it", CFG_MAX_DISKS - 1);
	if (c->overlay && c->rootfs && !strcmp(c->overlay, c->rootfs))
		return err_set(EINVAL, "--overlay: the upper layer cannot be the root "
			       "image itself (%s)", c->rootfs);
	if (c->net_off && (c->net.n_ports || c->has_dns))
		return err_set(EINVAL, "published ports (-p) and --dns need the "
			       "network (--net user)");
	int rc = cfg_validate_volumes(c);
	return rc < 0 ? rc : cfg_validate_init(c);
}

const char *cfg_overlay(const struct msbvm_config *c)
{
	if (c->overlay)
		return c->overlay;
	if (c->image)
		return "scratch";
	/* a directory root is shared read-only: writes go to a tmpfs */
	return cfg_rootfs_dir(c) ? "tmpfs" : NULL;
}

void cfg_state_root(const struct msbvm_config *c, char *out, size_t len)
{
	state_root(c->state_dir, out, len);
}

int cfg_cmdline(const struct msbvm_config *c, char *buf, size_t len)
{
	enum msbvm_nested m = c->nested;
	char why[160] = "forced on", root[64] = "";
	bool nested = m == MSBVM_NESTED_ON ||
		      (m == MSBVM_NESTED_AUTO && nested_detect("", why, sizeof(why)));

	/* in agent mode the agent mounts the root itself, told so by the
	 * boot configuration (bootcfg.c), not by the command line */
	if (c->rootfs && !c->agent)
		snprintf(root, sizeof(root), " root=/dev/vda rw rootfstype=ext4");
	/* msbvm.pvport: where the guest reports power-off and panic
	 * (vmm/hw/pvport.h, kernel-config/patches/0004); part of the machine,
	 * so it is there with a replaced command line too */
	int n = snprintf(buf, len, "%s msbvm.pvport=0x%x%s%s%s%s%s",
			 c->cmdline ? c->cmdline : CFG_DEFAULT_CMDLINE, PVPORT_PORT, root,
			 c->append ? " " : "", c->append ? c->append : "",
			 nested ? " " : "", nested ? nested_cmdline() : "");

	if (nested)
		log_info("nested KVM work-arounds on (%s): adding '%s'", why,
			 nested_cmdline());
	else
		log_info("nested KVM work-arounds off");
	if (n < 0 || (size_t)n >= len)
		return err_set(E2BIG, "kernel command line too long");
	return 0;
}
