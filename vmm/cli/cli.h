#ifndef MSBVM_CLI_H
#define MSBVM_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "include/msbvm.h"

#define CLI_MEM_DEFAULT_MIB 128
#define CLI_MEM_MIN_MIB 32
#define CLI_MAX_DISKS 8
#define CLI_MAX_ENV 64
#define CLI_MAX_VOLUMES 8
#define CLI_MAX_SCRIPTS 64

/* -e/-w/-u/-t/-T, shared by `run` and `exec`: 1 taken, 0 not one of
 * them, <0 bad value. */
#define CLI_MAX_PORTS 32
struct cli_exec_args {
	const char *env[CLI_MAX_ENV + 1];
	unsigned n_env;
	const char *workdir, *user;
	int tty;                            /* -1 auto, 0 no, 1 yes */
};
struct run_opts {
	const char *kernel, *initrd, *cmdline, *append, *profile;
	const char *rootfs;                 /* ext4 image, becomes /dev/vda */
	const char *overlay;                /* "tmpfs" or an upper ext4 image */
	const char *image;                  /* an image reference (oci/) */
	const char *entrypoint;             /* --entrypoint (images) */
	const char *disks[CLI_MAX_DISKS];   /* "PATH[,ro]" */
	unsigned n_disks;
	uint64_t mem_mib;
	bool console;
	enum msbvm_nested nested;
	enum msbvm_seccomp seccomp;         /* --seccomp on|log|off */
	bool verbose;
	/* agent mode (no --initrd): agentd is PID 1 and runs cmd */
	bool no_agent, detach;
	const char *name, *state_dir;
	struct cli_exec_args x;
	char **cmd;                         /* after "--"; NULL: a shell */
	const char *init;                   /* --init auto|PATH */
	const char *report;                 /* --report FILE (JSON) */
	const char *init_args[CLI_MAX_ENV], *init_env[CLI_MAX_ENV];
	unsigned n_init_args, n_init_env;
	enum msbvm_net net;                 /* --net user (default) | none */
	bool net_given;                     /* else the library's default */
	const char *dns;                    /* --dns IP */
	const char *ports[CLI_MAX_PORTS];   /* -p specs, parsed by the library */
	unsigned n_ports;
	const char *vols[CLI_MAX_VOLUMES];  /* -v HOST:GUEST[:ro] */
	unsigned n_vols;
	const char *scripts[CLI_MAX_SCRIPTS]; /* --script NAME=HOSTFILE */
	unsigned n_scripts;
	const char *spec;                   /* --spec FILE.json */
	uint64_t upper_mib;                 /* --upper-size (0: not given) */
	bool mem_given;                     /* --memory (else the spec's) */
};

/* sigsys.c: a SIGSYS handler that names the thread and syscall a
 * seccomp filter trapped, then exits 159 (--seccomp on). */
void cli_sigsys_install(void);

/* The command's own error line (the command is a program: one message
 * at a time is all it needs); cli_fail records it and returns -errnum. */
int cli_fail(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *cli_errmsg(void);

int cli_exec_opt(int opt, const char *arg, const char *cmd,
		 struct cli_exec_args *a);

/* `msbvm exec [options] NAME [--] CMD [ARG...]` */
struct exec_opts {
	struct cli_exec_args x;
	const char *state_dir, *name;
	char **cmd;                         /* NULL-terminated (argv's tail) */
	bool detach;                        /* -d: start CMD, print its pid */
};
/* Parses `msbvm exec` arguments (argv[0] is "exec"); <0 on bad usage
 * (cli_errmsg says why). */
int cli_parse_exec(int argc, char **argv, struct exec_opts *o);

/* --disk PATH[,ro|,rw]: the path (of path_len bytes at most) and ro. */
int cli_parse_disk(const char *spec, char *path, size_t path_len, bool *ro);
/* -v HOSTDIR:GUESTDIR[:ro|:rw]: the two paths (each of at most len
 * bytes) and ro; <0 with cli_errmsg() on a malformed one. */
int cli_parse_volume(const char *spec, char *host, char *guest, size_t len,
		     bool *ro);
/* --script NAME=HOSTFILE: pointers into a copy in buf */
int cli_parse_script(const char *spec, char *buf, size_t len,
		     const char **name, const char **file);
/* Parses `msbvm run` arguments (argv[0] is "run"). 1: help printed. */
int cli_parse_run(int argc, char **argv, struct run_opts *o);
/* A strict decimal MiB count within [min, max]; -EINVAL otherwise. */
int cli_parse_mib(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* run_image.c: o->image into c (pulled on first use); *argv: the
 * command docker would run (NULL with -d). 0, or -1 after printing why. */
int run_image(const struct run_opts *o, msbvm_config *c, char ***argv);
/* forward.c: main's argv, for handing image commands to msbvm-full */
void cli_forward_init(char **argv);
/* `msbvm run`: boots the VM described by o; the process exit code. */
int cli_run(const struct run_opts *o);

#endif
