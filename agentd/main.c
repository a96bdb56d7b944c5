/* agentd boot: mounts, root switch, hostname, loopback, then the server.
 * Settings come from the kernel command line (msbvm writes them):
 *   msb.root=DEV        root disk to mount and switch into (none: stay)
 *   msb.rootfstype=T    default ext4
 *   msb.ro=1            mount the root read-only
 *   msb.hostname=NAME   default "msbvm"
 * A failure before serving is fatal for the VM: agentd prints why on the
 * console (the host's kernel.log) and powers the guest off. */
#include "agentd.h"
#include "init.h"

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

/* Value of "key=" on the kernel command line, into buf; false if absent. */
static bool agent_param(const char *cmdline, const char *key, char *buf,
			size_t len)
{
	size_t kl = strlen(key);

	for (const char *p = cmdline; (p = strstr(p, key)); p += kl) {
		if ((p != cmdline && p[-1] != ' ') || p[kl] != '=')
			continue;
		const char *v = p + kl + 1;
		size_t n = strcspn(v, " \n");
		if (n >= len)
			return false;
		memcpy(buf, v, n);
		buf[n] = '\0';
		return true;
	}
	return false;
}

static void agent_mount(const char *src, const char *dst, const char *type,
			unsigned long flags, const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0 && errno != EBUSY)
		agent_log("mount %s on %s: %s", type, dst, strerror(errno));
}

/* switch_root without a shell: move the pseudo file systems under the new
 * root, make it / and chroot. The initramfs holds only this binary, so
 * leaving it in memory costs ~100 KiB. */
static void agent_switch_root(const char *dev, const char *type, bool ro)
{
	static const char *const moved[] = { "/dev", "/proc", "/sys" };
	char dst[64];

	mkdir("/newroot", 0755);
	if (mount(dev, "/newroot", type, ro ? MS_RDONLY : 0, NULL) < 0) {
		char why[320];
		snprintf(why, sizeof(why), "cannot mount root %s (%s): %s", dev,
			 type, strerror(errno));
		agent_fatal(why);
	}
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

static char agent_cmdline[4096];

static void agent_setup(struct agent *a)
{
	char *cmdline = agent_cmdline, root[128], type[32] = "ext4", ro[8] = "0",
	     host[65] = "msbvm";
	int fd;

	agent_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	agent_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	agent_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	if ((fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC)) >= 0) {
		ssize_t n = read(fd, cmdline, sizeof(agent_cmdline) - 1);
		cmdline[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	agent_param(cmdline, "msb.rootfstype", type, sizeof(type));
	agent_param(cmdline, "msb.ro", ro, sizeof(ro));
	agent_param(cmdline, "msb.hostname", host, sizeof(host));
	if (agent_param(cmdline, "msb.root", root, sizeof(root)))
		agent_switch_root(root, type, !strcmp(ro, "1"));
	a->t_root_ms = agent_now_ms();
	agent_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		    "gid=5,mode=620,ptmxmode=666");
	agent_mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	agent_mount("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	agent_mount("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mkdir("/run/msbvm", 0755);
	if (sethostname(host, strlen(host)) < 0)
		agent_log("hostname %s: %s", host, strerror(errno));
	agent_loopback();
}

/* --init: preflight, then fork; returns in the agent (the child). */
static void agent_init_handoff(struct agent *a)
{
	static struct init_cfg ic;
	char err[1200];

	if (!init_parse(agent_cmdline, &ic))
		agent_fatal("malformed msb.init* parameter on the kernel command line");
	if (!ic.want)
		return;
	if (!init_preflight(&ic, err, sizeof(err)))
		agent_fatal(err);
	agent_log("handing PID 1 to %s", ic.path);
	init_handoff(&ic);
	a->handoff = true;
}

int main(void)
{
	static struct agent a;

	a.t_start_ms = agent_now_ms();
	/* the console marker tools/bench compares VMMs on (one line) */
	agent_log("started at %lld ms", (long long)a.t_start_ms);
	if (getpid() != 1) {
		agent_log("not PID 1: skipping boot-time setup");
	} else {
		agent_setup(&a);
		agent_init_handoff(&a);
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
	reboot(RB_POWER_OFF);
	return 0;
}
