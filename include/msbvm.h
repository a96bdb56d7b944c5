/* libmsbvm: boot Linux microVMs on /dev/kvm and run commands in them.
 *
 * A VM's life: build a config, msbvm_create() (validates, maps RAM, loads
 * the kernel; nothing runs yet), msbvm_start() (its own vCPU and device
 * threads), msbvm_wait_ready() (the guest agent answered), then any number
 * of msbvm_exec() / msbvm_exec_detached() / msbvm_copy_in() /
 * msbvm_copy_out(), msbvm_stop()
 * (graceful, then hard) and msbvm_destroy(). A VM started elsewhere (by
 * `msbvm run -d` or another process) is reached by name with msbvm_open().
 *
 * Rules the library keeps: no process-wide state (several VMs in one
 * process, each with its own threads; handles are not shared between
 * threads without the caller's locking); no exit(), no signal handlers
 * installed, no change to the caller's signal mask; its threads block every
 * signal. The vCPU threads are kicked out of KVM_RUN with MSBVM_KICK_SIGNAL
 * sent to those threads only (blocked there and consumed with sigtimedwait,
 * never delivered to a handler): do not send it to the whole process.
 *
 * Errors: functions return 0 (or a count) on success and -errno on failure;
 * a one-line message naming what was wrong is kept on the object that was
 * called (msbvm_errmsg(), msbvm_config_errmsg()). Nothing is printed to
 * stdout; guest-caused problems are logged, rate-limited, through the log
 * callback (default: stderr, "msbvm: " prefix).
 *
 * Versioning: MSBVM_API_VERSION grows when functions are added; the soname
 * changes only when one is removed or changes meaning. */
#ifndef MSBVM_H
#define MSBVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MSBVM_API_VERSION 3
#define MSBVM_KICK_SIGNAL (SIGRTMIN + 3)

typedef struct msbvm_config msbvm_config;
typedef struct msbvm msbvm;

/* "0.2.0" and MSBVM_API_VERSION of the library actually linked. */
const char *msbvm_version(void);
int msbvm_api_version(void);

/* ---- configuration (copied by msbvm_create; free it any time after) ---- */

msbvm_config *msbvm_config_new(void); /* NULL: out of memory */
void msbvm_config_free(msbvm_config *c);
const char *msbvm_config_errmsg(const msbvm_config *c); /* "" if none */

/* Guest kernel: ELF vmlinux or bzImage (required; `make install` puts
 * msbvm's in PREFIX/share/msbvm/vmlinux). */
int msbvm_config_set_kernel(msbvm_config *c, const char *path);
/* Agent mode (the default): the agent initramfs (required in agent mode;
 * PREFIX/share/msbvm/agentd.cpio). Without the agent (set_agent false),
 * set_initrd() boots that initramfs's own /init, else the root disk's. */
int msbvm_config_set_agent_initrd(msbvm_config *c, const char *path);
int msbvm_config_set_agent(msbvm_config *c, bool on);
int msbvm_config_set_initrd(msbvm_config *c, const char *path);
/* Root file system image (ext4), attached first (/dev/vda). */
int msbvm_config_set_rootfs(msbvm_config *c, const char *path);
/* Keep the root image unchanged: mount it read-only as the lower layer
 * of an overlay whose writes go to `upper`: "tmpfs" (in guest RAM, gone
 * at power-off), "scratch" (a sparse ext4 image of MSBVM_SCRATCH_MIB
 * apparent size that the library creates in the VM's state directory and
 * deletes with it), or the path of an ext4 image of this VM's own. A disk
 * upper is attached as /dev/vdb; agentd keeps upper/ and work/ folders in
 * it. The root image is then attached read-only, so any number of VMs can
 * share it. NULL: the root image is mounted read-write (the default;
 * "scratch" for an image, msbvm_config_set_image). */
#define MSBVM_SCRATCH_MIB 4096
int msbvm_config_set_overlay(msbvm_config *c, const char *upper);
/* A "scratch" upper (as above) of mib MiB apparent size (sparse;
 * 64..1048576) instead of MSBVM_SCRATCH_MIB: `--upper-size`. */
int msbvm_config_set_upper_size(msbvm_config *c, uint64_t mib);
/* Another virtio-blk disk (vdb, vdc, ... in order, after an overlay's
 * upper disk; at most 8). */
int msbvm_config_add_disk(msbvm_config *c, const char *path, bool readonly);
/* A host directory shared with the guest over virtio-fs (in-process; no
 * virtiofsd) and mounted by the agent at guest_path before the command or
 * the init handoff (like docker run -v HOST:GUEST[:ro]). host_dir must be
 * an existing directory (kept as its absolute, resolved path); guest_path
 * absolute, not "/", no ".." component, at most one volume per guest path;
 * at most MSBVM_MAX_VOLUMES. Files the guest creates are owned on the host
 * by the user running the VMM. A read-only volume refuses every change
 * with EROFS. A directory given to msbvm_config_set_rootfs is shared the
 * same way, read-only, as the lower layer of an overlay (tmpfs upper by
 * default): the directory is never modified. */
#define MSBVM_MAX_VOLUMES 8
int msbvm_config_add_volume(msbvm_config *c, const char *host_dir,
			    const char *guest_path, bool readonly);
/* Rootfs patches (the seed's eight operations), applied in order by the
 * agent to the writable layer before the command or init runs; the base
 * image never changes. Refused for a raw read-write --rootfs disk (no
 * writable layer). A path that exists fails the boot unless replace is
 * set; MKDIR and REMOVE are idempotent. A failed patch stops the boot
 * with a message naming its index, op and path. */
enum msbvm_patch_op {
	MSBVM_PATCH_TEXT,      /* path, data/len, mode, replace */
	MSBVM_PATCH_FILE,      /* path, data/len (bytes), mode, replace */
	MSBVM_PATCH_MKDIR,     /* path, mode */
	MSBVM_PATCH_APPEND,    /* path (must exist), data/len */
	MSBVM_PATCH_COPY_FILE, /* src (host file) -> path, mode, replace */
	MSBVM_PATCH_COPY_DIR,  /* src (host directory) -> path, replace */
	MSBVM_PATCH_SYMLINK,   /* src (the link's target) <- path, replace */
	MSBVM_PATCH_REMOVE,    /* path */
};
struct msbvm_patch {
	enum msbvm_patch_op op;
	const char *path;      /* absolute guest path */
	const void *data;      /* TEXT, FILE, APPEND content (copied) */
	size_t len;
	const char *src;       /* COPY_*: host path (read at msbvm_create);
				* SYMLINK: the target, stored as given */
	int mode;              /* permission bits; -1: 0644 (text, file),
				* 0755 (mkdir), the host file's (copyFile) */
	bool replace;
};
int msbvm_config_add_patch(msbvm_config *c, const struct msbvm_patch *p);
/* A script installed at /.msb/scripts/NAME (mode 0755; that directory is
 * on PATH for commands and execs, so it runs by name). NAME: one path
 * component of [A-Za-z0-9_.-]; the host file is read at msbvm_create. */
int msbvm_config_add_script(msbvm_config *c, const char *name,
			    const char *host_file);
/* The same with the script's content given (copied), as a spec's
 * "scripts": {"NAME": "#!/bin/sh\n..."} does. */
int msbvm_config_add_script_text(msbvm_config *c, const char *name,
				 const char *content);
/* A sandbox spec (JSON, docs/spec.md): image or rootfs, memory, cpus,
 * init, init_args, init_env, env, workdir, volumes, scripts, patches.
 * Fields found are applied to c as the setters above would; settings made
 * after the call override them (the command line's flags do). */
int msbvm_config_load_spec(msbvm_config *c, const char *path);
/* The image reference the last loaded spec named ("image"), or NULL. The
 * library does not pull it: the caller resolves it (msbvm_image_rootfs,
 * msbvm_config_set_image), as `msbvm run --spec` does. */
const char *msbvm_config_spec_image(const msbvm_config *c);
/* Networking: a virtio-net device on user-mode NAT (libslirp), the
 * default, or none. The guest is 10.0.2.15/24 with gateway 10.0.2.2 (also
 * the host's loopback, as with QEMU user networking) and DNS 10.0.2.3
 * (slirp's forwarder to the host's resolver); agentd sets eth0 up. */
enum msbvm_net { MSBVM_NET_USER, MSBVM_NET_NONE };
int msbvm_config_set_net(msbvm_config *c, enum msbvm_net mode);
/* The guest's DNS server instead of 10.0.2.3 (IPv4; NULL: the default). */
int msbvm_config_set_dns(msbvm_config *c, const char *ip);
/* Publish a guest port: "[HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]" (like
 * docker run -p; HOSTIP defaults to 127.0.0.1, 0.0.0.0 must be asked
 * for; tcp by default; at most 32). A host port that cannot be bound
 * fails msbvm_start with EADDRINUSE, before the guest boots. */
int msbvm_config_add_port(msbvm_config *c, const char *spec);
int msbvm_config_set_memory_mib(msbvm_config *c, uint64_t mib);  /* 32.. */
int msbvm_config_set_cpus(msbvm_config *c, unsigned n);           /* 1 today */
/* Name (for msbvm_open; [A-Za-z0-9][A-Za-z0-9_.-]{0,63}; default vm-PID-N)
 * and the state root holding NAME/ (default: $MSBVM_STATE_DIR,
 * $XDG_RUNTIME_DIR/msbvm, /run/msbvm as root, /tmp/msbvm-UID). */
int msbvm_config_set_name(msbvm_config *c, const char *name);
int msbvm_config_set_state_dir(msbvm_config *c, const char *dir);
/* Hand PID 1 to a real init after the agent's setup: "auto" or an
 * absolute path; arguments and KEY=VALUE environment for it. */
int msbvm_config_set_init(msbvm_config *c, const char *init);
int msbvm_config_add_init_arg(msbvm_config *c, const char *arg);
int msbvm_config_add_init_env(msbvm_config *c, const char *kv);
/* Kernel command line: replace the default, or add to it. */
int msbvm_config_set_cmdline(msbvm_config *c, const char *cmdline);
int msbvm_config_append_cmdline(msbvm_config *c, const char *extra);
/* Guest console output: an fd the library writes to (dup'ed at create).
 * Default: STATE/NAME/kernel.log in agent mode, discarded otherwise. */
int msbvm_config_set_console_fd(msbvm_config *c, int fd);
/* Interactive console input from in_fd (raw mode if a terminal; Ctrl-A x
 * stops the VM with MSBVM_END_USER). */
int msbvm_config_set_console_input(msbvm_config *c, int in_fd);
enum msbvm_nested { MSBVM_NESTED_AUTO, MSBVM_NESTED_ON, MSBVM_NESTED_OFF };
int msbvm_config_set_nested(msbvm_config *c, enum msbvm_nested mode);
/* Per-thread seccomp filters on the VM's own threads (vCPU, I/O, vsock,
 * console; never the caller's threads): ON (default) kills the process
 * on a system call outside the thread's list; LOG lets it through and
 * logs it (audit, dmesg: for finding what new code needs); OFF; TRAP
 * sends SIGSYS to the thread instead, for a process that installed a
 * SIGSYS handler to report the violation (the msbvm command does). */
enum msbvm_seccomp { MSBVM_SECCOMP_ON, MSBVM_SECCOMP_LOG, MSBVM_SECCOMP_OFF,
		     MSBVM_SECCOMP_TRAP };
int msbvm_config_set_seccomp(msbvm_config *c, enum msbvm_seccomp mode);
/* Guest RIP samples to path (development tool). */
int msbvm_config_set_profile(msbvm_config *c, const char *path);
/* Where log lines go (info when verbose, guest problems always). */
typedef void (*msbvm_log_fn)(void *opaque, const char *line);
int msbvm_config_set_log(msbvm_config *c, msbvm_log_fn fn, void *opaque,
			 bool verbose);

/* ---- a VM this process runs ---- */

/* Validates the config, creates the state directory (locked for the VM's
 * life), maps guest RAM, loads the kernel and builds the devices. On
 * failure *out is NULL and the message is on c. */
int msbvm_create(msbvm_config *c, msbvm **out);
/* Starts the vCPU and device threads: the guest boots. */
int msbvm_start(msbvm *vm);
/* Waits until the guest agent is ready (agent mode), the VM stops, or
 * timeout_ms passes (-1: forever). 0 ready; -ETIMEDOUT; -ECHILD the VM
 * stopped first (see msbvm_wait for how). */
int msbvm_wait_ready(msbvm *vm, int timeout_ms);

/* How a VM ended. */
enum msbvm_end {
	MSBVM_RUNNING = 0,
	MSBVM_END_POWEROFF,   /* the guest powered off */
	MSBVM_END_REBOOT,     /* the guest rebooted (a microVM stops) */
	MSBVM_END_PANIC,      /* guest kernel panic */
	MSBVM_END_ERROR,      /* triple fault, emulation failure, bad entry */
	MSBVM_END_STOPPED,    /* msbvm_stop/msbvm_kill by the host */
	MSBVM_END_USER,       /* Ctrl-A x on the interactive console */
};
struct msbvm_status {
	enum msbvm_end end;
	char detail[512];     /* panic line or error; "" if none */
};
/* Waits until the VM has stopped (timeout_ms -1: forever); 0 and *st
 * filled, -ETIMEDOUT. The VM's threads are stopped when it returns 0. */
int msbvm_wait(msbvm *vm, int timeout_ms, struct msbvm_status *st);
/* Graceful: the agent ends its sessions, syncs and powers the guest off
 * (through the init after a handoff); after timeout_ms the VM is stopped
 * hard. Returns when the VM has stopped. For a handle from msbvm_open the
 * VMM process is sent SIGTERM then SIGKILL after the timeout. */
int msbvm_stop(msbvm *vm, int timeout_ms);
/* Hard stop, async-signal-safe (for a SIGINT handler): the vCPU leaves
 * KVM_RUN at once; msbvm_wait then returns MSBVM_END_STOPPED. */
void msbvm_kill(msbvm *vm);
/* Stops what still runs, joins every thread, then frees guest memory,
 * closes disks and removes the state directory. NULL is fine. */
void msbvm_destroy(msbvm *vm);
/* Like destroy, but keeps STATE/NAME/kernel.log (a VM that failed). */
void msbvm_destroy_keep_log(msbvm *vm);

/* The one-line message of the last failure on this handle ("" if none).
 * msbvm_exec sets it on every call: "" when the status is the command's
 * own, the agent's reason for 125/126/127 when it refused to run it. */
const char *msbvm_errmsg(const msbvm *vm);
const char *msbvm_name(const msbvm *vm);
const char *msbvm_state_path(const msbvm *vm); /* STATE/NAME */

/* ---- a VM started elsewhere, by name ---- */

/* Opens a running VM (another process's or this one's) for exec, copy and
 * stop. Fails with -ENOENT "no running VM named ..." (message on c, which
 * supplies the state dir). */
int msbvm_open(msbvm_config *c, const char *name, msbvm **out);
/* Calls fn for every VM under the state root: running or stale (its VMM
 * died; kernel.log kept). Returns the count or -errno. */
typedef void (*msbvm_list_fn)(void *opaque, const char *name, int pid,
			      bool running);
int msbvm_list(msbvm_config *c, msbvm_list_fn fn, void *opaque);
/* Removes a stale VM's state; -EBUSY if it is running. */
int msbvm_remove_stale(msbvm_config *c, const char *name);

/* ---- commands and files (agent mode) ---- */

enum msbvm_stream { MSBVM_STDOUT = 1, MSBVM_STDERR = 2 };
typedef void (*msbvm_output_fn)(void *opaque, enum msbvm_stream s,
				const void *data, size_t len);
struct msbvm_exec {
	const char *const *argv;     /* NULL-terminated, argv[0] looked up in PATH */
	const char *const *env;      /* "K=V", NULL-terminated, or NULL */
	const char *cwd, *user;      /* NULL: the VM's defaults (an image's
				      * WorkingDir and User), else "/", root */
	bool tty;                    /* a pty in the guest (raw mode on stdin_fd) */
	int stdin_fd;                /* -1: no input (EOF at once) */
	int stdout_fd, stderr_fd;    /* -1: use on_output, or discard */
	msbvm_output_fn on_output;   /* called when the fd is -1 */
	void *opaque;
	int signal_fd;               /* read end of a pipe of ints: signals to
				      * forward to the command; -1 none. A
				      * second SIGINT (or SIGTERM) is not
				      * forwarded: msbvm_exec hangs up */
};
/* Runs a command and waits for it. Returns its status as a shell reports
 * it: the exit code, 128+N for signal N, 127 not found, 126 not
 * executable (msbvm_errmsg says why), or -errno if it could not run;
 * -EINTR when a second interrupt on signal_fd made it hang up.
 * Who dies when (docs/protocol.md): the command exiting leaves what it
 * started in the background running; the connection closing while the
 * command runs (the second interrupt, the calling process dying, a lost
 * socket) sends the command's process group SIGHUP, then SIGKILL 5 s
 * later. */
int msbvm_exec(msbvm *vm, const struct msbvm_exec *e);
/* Starts a command detached and returns at once: argv, env, cwd and user
 * of e are used (the rest is ignored). It runs in its own session with
 * stdin /dev/null and stdout + stderr in the guest file
 * /run/msbvm/exec-PID.log, survives the caller, and lives until it exits
 * or the VM stops. Returns 0 with its guest pid in *pid, 127/126/125 if
 * the agent refused it (as msbvm_exec; msbvm_errmsg says why), or -errno. */
int msbvm_exec_detached(msbvm *vm, const struct msbvm_exec *e, int *pid);
/* Copies a regular file. copy_out writes a temporary file beside
 * host_path and renames it only on success: nothing is lost on failure. */
int msbvm_copy_in(msbvm *vm, const char *host_path, const char *guest_path);
int msbvm_copy_out(msbvm *vm, const char *guest_path, const char *host_path);

/* ---- measurements (benchmarks) ---- */

/* One JSON object: phase times, guest timestamps, exits, RSS. */
int msbvm_write_report(msbvm *vm, const char *path, int exit_code);

/* ---- images (OCI / Docker registries; oci/) ----
 * A store of pulled images under a root directory ($MSBVM_HOME; default
 * ~/.local/share/msbvm, /var/lib/msbvm as root). Open one handle per
 * thread; the store itself is safe for several processes (a file lock). */
typedef struct msbvm_image_store msbvm_image_store;

struct msbvm_image_info {
	const char *ref;        /* docker.io/library/alpine:latest */
	const char *digest;     /* manifest digest, sha256:... */
	const char *created;    /* from the image config, RFC 3339, or "" */
	uint64_t size;          /* config + compressed layers, bytes */
};
typedef int (*msbvm_image_list_fn)(const struct msbvm_image_info *ii,
				   void *opaque);

/* What `run IMAGE` needs: the cached read-only ext4 base image and the
 * image config. Lists are NULL-terminated or NULL when the image has none. */
struct msbvm_image_rootfs {
	char *path;             /* STORE/images/<hex>.ext4, never written */
	char *digest;
	char **entrypoint, **cmd, **env;
	char *workdir, *user;   /* NULL if unset */
};

/* Boot from a pulled image: its base image (r->path) becomes the
 * read-only root under an overlay (upper as msbvm_config_set_overlay
 * says, default "scratch"), and its Env, WorkingDir and User become the
 * defaults of every command run in the VM, msbvm_exec's included (a
 * command's own env, cwd and user win), as with `docker exec`. Entrypoint
 * and Cmd are the caller's to combine with its command. */
int msbvm_config_set_image(msbvm_config *c, const struct msbvm_image_rootfs *r);

/* root NULL: the default. -errno; *out NULL on failure (errno only). */
int msbvm_image_store_open(const char *root, msbvm_image_store **out);
void msbvm_image_store_close(msbvm_image_store *s);
const char *msbvm_image_errmsg(const msbvm_image_store *s);
const char *msbvm_image_store_root(const msbvm_image_store *s);
/* pull options, kept on the handle: "os/arch[/variant]" (default
 * linux/amd64); a registry to reach over plain HTTP; a CA bundle; where
 * progress lines go (-1: nowhere, the default) */
int msbvm_image_set_platform(msbvm_image_store *s, const char *platform);
int msbvm_image_add_insecure_registry(msbvm_image_store *s, const char *host);
int msbvm_image_set_ca_cert(msbvm_image_store *s, const char *path);
int msbvm_image_set_progress_fd(msbvm_image_store *s, int fd);
/* Pull REF; digest (>= 72 bytes, may be NULL) gets the manifest digest. */
int msbvm_image_pull(msbvm_image_store *s, const char *ref, char *digest);
int msbvm_image_list(msbvm_image_store *s, msbvm_image_list_fn fn,
		     void *opaque);
/* Forget REF; blobs and base images nothing else uses are deleted.
 * -EBUSY if a running VM uses its base image (and no other REF has it). */
int msbvm_image_remove(msbvm_image_store *s, const char *ref);
/* The image config blob (JSON) of REF, malloc'd, NUL-terminated. */
int msbvm_image_config_json(msbvm_image_store *s, const char *ref,
			    char **json);
/* The base image of a pulled REF, built on first use and cached. */
int msbvm_image_rootfs(msbvm_image_store *s, const char *ref,
		       struct msbvm_image_rootfs *out);
void msbvm_image_rootfs_free(struct msbvm_image_rootfs *r);
/* ~/.docker/config.json credentials, the file docker login writes */
int msbvm_image_login(msbvm_image_store *s, const char *registry,
		      const char *user, const char *password);
int msbvm_image_logout(msbvm_image_store *s, const char *registry);

#ifdef __cplusplus
}
#endif
#endif
