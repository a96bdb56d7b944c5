/* Embedding libmsbvm: boot microVMs, run two commands in each, print what
 * they printed and their exit codes. Several VMs live in this one process
 * at once, each with its own threads.
 *
 *   cc embed.c $(pkg-config --cflags --libs msbvm) -o embed
 *   ./embed ROOTFS [ROOTFS...]     (one VM per root image, at most 4)
 *
 * The kernel and agent initramfs come from $MSBVM_KERNEL and
 * $MSBVM_AGENT_INITRD (share/msbvm/ of the install prefix holds both). */
#include <msbvm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VMS 4

struct captured {
	char buf[4096];
	size_t len;
};

/* Output callback: the command's stdout and stderr, as they arrive. */
static void capture(void *opaque, enum msbvm_stream s, const void *p, size_t n)
{
	struct captured *c = opaque;

	(void)s;
	if (n > sizeof(c->buf) - 1 - c->len)
		n = sizeof(c->buf) - 1 - c->len;
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
}

static msbvm *boot(const char *rootfs, int i)
{
	msbvm_config *c = msbvm_config_new();
	char name[32];
	msbvm *vm = NULL;

	snprintf(name, sizeof(name), "embed-%d", i);
	if (!c || msbvm_config_set_kernel(c, getenv("MSBVM_KERNEL")) < 0 ||
	    msbvm_config_set_agent_initrd(c, getenv("MSBVM_AGENT_INITRD")) < 0 ||
	    msbvm_config_set_rootfs(c, rootfs) < 0 ||
	    msbvm_config_set_name(c, name) < 0 ||
	    msbvm_config_set_memory_mib(c, 128) < 0 ||
	    msbvm_create(c, &vm) < 0)
		fprintf(stderr, "embed: %s\n", c ? msbvm_config_errmsg(c) : "no memory");
	else if (msbvm_start(vm) < 0) {
		fprintf(stderr, "embed: %s\n", msbvm_errmsg(vm));
		msbvm_destroy(vm);
		vm = NULL;
	}
	msbvm_config_free(c);
	return vm;
}

static int run_two(msbvm *vm)
{
	const char *uname[] = { "uname", "-sr", NULL };
	const char *fail[] = { "sh", "-c", "echo to stderr >&2; exit 7", NULL };
	struct captured out = { .len = 0 };
	struct msbvm_exec e = { .argv = uname, .stdin_fd = -1, .stdout_fd = -1,
				.stderr_fd = -1, .on_output = capture,
				.opaque = &out, .signal_fd = -1 };
	int code;

	code = msbvm_exec(vm, &e);
	printf("%s: uname -sr -> exit %d, output: %s", msbvm_name(vm), code, out.buf);
	e.argv = fail;
	e.stderr_fd = 1; /* this one straight to our stdout */
	e.on_output = NULL;
	code = msbvm_exec(vm, &e);
	printf("%s: sh -c 'exit 7' -> exit %d\n", msbvm_name(vm), code);
	return code == 7 ? 0 : 1;
}

int main(int argc, char **argv)
{
	msbvm *vms[MAX_VMS] = { 0 };
	int n = argc - 1, bad = 0;

	if (n < 1 || n > MAX_VMS) {
		fprintf(stderr, "usage: embed ROOTFS [ROOTFS...] (1-%d images, "
			"one per VM)\n", MAX_VMS);
		return 2;
	}
	printf("libmsbvm %s (API %d)\n", msbvm_version(), msbvm_api_version());
	for (int i = 0; i < n; i++) /* all boot at once, on their own threads */
		if (!(vms[i] = boot(argv[i + 1], i)))
			bad = 1;
	for (int i = 0; i < n && vms[i]; i++) {
		struct msbvm_status st;

		if (msbvm_wait_ready(vms[i], 600 * 1000) < 0) {
			fprintf(stderr, "embed: %s\n", msbvm_errmsg(vms[i]));
			bad = 1;
		} else {
			bad |= run_two(vms[i]);
		}
		msbvm_stop(vms[i], 10 * 1000);
		msbvm_wait(vms[i], -1, &st);
		printf("%s: ended: %s\n", msbvm_name(vms[i]),
		       st.end == MSBVM_END_POWEROFF ? "powered off" : "other");
	}
	for (int i = 0; i < n; i++)
		msbvm_destroy(vms[i]);
	return bad;
}
