/* agentd boot: mounts, root switch, hostname, loopback, then the server.
 * Settings come from the boot configuration msbvm puts into the
 * initramfs (BCFG_PATH, docs/boot-config.md): root device, file system
 * and read-only flag, hostname, init handoff. agentd reads it once and
 * deletes it before anything else runs, so no guest process sees it (and
 * after a root switch the initramfs is out of reach anyway).
 * A failure before serving is fatal for the VM: agentd prints why on the
 * console (the host's kernel.log) and powers the guest off. */
#include "agentd.h"
#include "config.h"
#include "init.h"
#include "net.h"
#include "patch.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t agent_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_BOOTTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One write per line: every guest syscall is expensive on nested hosts. */
void agent_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "agentd: ");

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void agent_fatal(const char *what)
{
	agent_log("fatal: %s; powering off", what);
	sync();
	reboot(RB_POWER_OFF);
	_exit(1);
}

static void agent_mount(const char *src, const char *dst, const char *type,
			unsigned long flags, const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0 && errno != EBUSY)
		agent_log("mount %s on %s: %s", type, dst, strerror(errno));
}

static void agent_mount_or_die(const char *src, const char *dst,
			       const char *type, unsigned long flags, const char *data)
{
	char why[400];

	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) == 0)
		return;
	snprintf(why, sizeof(why), "cannot mount %s (%s) on %s: %s", src, type, dst,
		 strerror(errno));
	agent_fatal(why);
}

/* The upper layer's file system, kept open so that shutdown can remount
 * it read-only although it is out of sight after the root switch. */
static int agent_upper_fd = -1;

/* --overlay: the root image read-only as the lower layer (shared by every
 * VM of that image), this VM's writes in upper/ of a tmpfs or of an ext4
 * disk of its own, work/ beside it on the same file system as overlayfs
 * requires (Documentation/filesystems/overlayfs.rst). */
static void agent_mount_overlay(const struct agent_cfg *c)
{
	agent_mount_or_die(c->root_dev, "/lower", c->root_fstype, MS_RDONLY, NULL);
	if (!strcmp(c->root_upper, "tmpfs"))
		agent_mount_or_die("upper", "/upper", "tmpfs", 0, "mode=0755");
	else
		agent_mount_or_die(c->root_upper, "/upper", "ext4", 0, NULL);
	mkdir("/upper/upper", 0755);
	mkdir("/upper/work", 0755);
	agent_upper_fd = open("/upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	agent_mount_or_die("overlay", "/newroot", "overlay", 0,
			   "lowerdir=/lower,upperdir=/upper/upper,workdir=/upper/work");
}

/* switch_root without a shell: move the pseudo file systems under the new
 * root, make it / and chroot. The initramfs holds only this binary, so
 * leaving it in memory costs ~100 KiB. */
static void agent_switch_root(const struct agent_cfg *c)
{
	static const char *const moved[] = { "/dev", "/proc", "/sys" };
	char dst[64];

	if (c->root_upper)
		agent_mount_overlay(c);
	else
		agent_mount_or_die(c->root_dev, "/newroot", c->root_fstype,
				   c->root_ro ? MS_RDONLY : 0, NULL);
	for (unsigned i = 0; i < 3; i++) {
		snprintf(dst, sizeof(dst), "/newroot%s", moved[i]);
		mkdir(dst, 0755);
		if (mount(moved[i], dst, NULL, MS_MOVE, NULL) < 0)
			agent_log("move %s: %s", moved[i], strerror(errno));
	}
	if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0)
		agent_fatal("cannot switch into the root file system");
}

static void agent_loopback(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	strcpy(ifr.ifr_name, "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		agent_log("lo: %s", strerror(errno));
	else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			agent_log("lo up: %s", strerror(errno));
	}
	if (fd >= 0)
		close(fd);
}

static int64_t agent_now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_BOOTTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* BCFG_PATH into a buffer that lives as long as agentd (the parsed
 * strings point into it), then the file is deleted. The buffer is static
 * (BSS: only the pages read into become resident): agentd's first malloc
 * cost ~50 ms of guest time here (brk and page faults are emulated). */
static void agent_read_config(struct agent_cfg *cfg)
{
	static uint8_t blob[BCFG_MAX_SIZE];
	char err[400];
	struct stat st;
	int64_t t0 = agent_now_us();
	int fd = open(BCFG_PATH, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0) {
		snprintf(err, sizeof(err), "no boot configuration at %s (%s): this "
			 "initramfs must be started by msbvm", BCFG_PATH, strerror(errno));
		agent_fatal(err);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size > BCFG_MAX_SIZE) {
		snprintf(err, sizeof(err), "boot configuration %s: not a regular file "
			 "of at most %u bytes", BCFG_PATH, BCFG_MAX_SIZE);
		agent_fatal(err);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, blob + got, (size_t)st.st_size - got);
		if (n <= 0)
			agent_fatal("boot configuration: short read");
		got += (size_t)n;
	}
	close(fd);
	/* the empty folder stays: after the root switch nobody sees it */
	if (unlink(BCFG_PATH) < 0)
		agent_log("removing %s: %s", BCFG_PATH, strerror(errno));
	int64_t t1 = agent_now_us();
	if (!acfg_parse(blob, got, cfg, err, sizeof(err)))
		agent_fatal(err);
	agent_log("boot configuration: %zu bytes, read in %lld us, parsed in %lld us",
		  got, (long long)(t1 - t0), (long long)(agent_now_us() - t1));
}

/* After the network (whose /etc/hosts an append patch may extend):
 * patches, scripts, then volumes, so that no patch writes through a
 * volume into the host. */
static void agent_prepare(const struct agent_cfg *cfg, int files_fd)
{
	char err[BCFG_MAX_WORKDIR + 600];

	if (!patch_apply(cfg, files_fd, err, sizeof(err)) ||
	    !patch_scripts(cfg, files_fd, err, sizeof(err)))
		agent_fatal(err);
	patch_cleanup(files_fd);
	if (cfg->n_scripts)
		exec_scripts_on_path();
	if (!patch_volumes(cfg, err, sizeof(err)))
		agent_fatal(err);
}

static void agent_setup(struct agent *a, struct agent_cfg *cfg)
{
	int files_fd = -1;

	agent_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	agent_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	agent_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	agent_read_config(cfg);
	exec_set_defaults(&cfg->exec);
	/* the patches' and scripts' content, reachable after the switch */
	if ((cfg->n_patches || cfg->n_scripts) &&
	    (files_fd = open(BCFG_FILES, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		agent_fatal("boot configuration: no " BCFG_FILES " for the patches "
			    "and scripts");
	if (cfg->has_root)
		agent_switch_root(cfg);
	a->t_root_ms = agent_now_ms();
	agent_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		    "gid=5,mode=620,ptmxmode=666");
	agent_mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	agent_mount("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	agent_mount("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mkdir("/run/msbvm", 0755);
	if (sethostname(cfg->name, strlen(cfg->name)) < 0)
		agent_log("hostname %s: %s", cfg->name, strerror(errno));
	agent_loopback();
	/* the VM's own writable layer: an overlay's upper, or the initramfs */
	agent_network(&cfg->net, cfg->name, !cfg->has_root || cfg->root_upper);
	agent_prepare(cfg, files_fd);
}

/* --init: preflight, then fork; returns in the agent (the child). */
static void agent_init_handoff(struct agent *a, struct init_cfg *ic)
{
	char err[1200];

	if (!ic->want)
		return;
	if (!init_preflight(ic, err, sizeof(err)))
		agent_fatal(err);
	agent_log("handing PID 1 to %s", ic->path);
	init_handoff(ic);
	a->handoff = true;
}

int main(void)
{
	static struct agent a;
	static struct agent_cfg cfg;

	a.t_start_ms = agent_now_ms();
	/* the console marker tools/bench compares VMMs on (one line) */
	agent_log("started at %lld ms", (long long)a.t_start_ms);
	if (getpid() != 1) {
		agent_log("not PID 1: skipping boot-time setup");
	} else {
		agent_setup(&a, &cfg);
		/* the control token stays in this process's memory only (the
		 * blob's file is deleted; nothing goes to the environment or
		 * the command line); not dumpable: no core file or ptrace
		 * attach can carry it out, whoever the caller */
		a.token = cfg.token;
		prctl(PR_SET_DUMPABLE, 0);
		agent_init_handoff(&a, &cfg.init);
	}
	signal(SIGPIPE, SIG_IGN);
	if (agent_serve(&a) < 0)
		agent_fatal("cannot serve the control channel");
	/* agent_serve returns only after a shutdown request */
	if (a.handoff)
		init_request_poweroff();
	/* every other process is gone; leave the root clean for next boot */
	sync();
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		agent_log("remount / read-only: %s", strerror(errno));
	if (agent_upper_fd >= 0) {
		char p[40];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", agent_upper_fd);
		if (mount(NULL, p, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
			agent_log("remount the overlay's upper layer read-only: %s",
				  strerror(errno));
	}
	reboot(RB_POWER_OFF);
	return 0;
}
