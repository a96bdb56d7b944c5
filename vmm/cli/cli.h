#ifndef MSBVM_CLI_H
#define MSBVM_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/nested.h"

#define CLI_MEM_DEFAULT_MIB 128
#define CLI_MEM_MIN_MIB 32
#define CLI_MAX_DISKS 8
#define CLI_MAX_ENV 64

struct run_opts {
	const char *kernel, *initrd, *cmdline, *append, *profile;
	const char *rootfs;                 /* ext4 image, becomes /dev/vda */
	const char *disks[CLI_MAX_DISKS];   /* "PATH[,ro]" */
	unsigned n_disks;
	uint64_t mem_mib;
	bool console;
	enum nested_mode nested;
	/* agent mode (no --initrd): agentd is PID 1 and runs cmd */
	bool no_agent, detach;
	const char *name, *state_dir, *workdir, *user;
	const char *env[CLI_MAX_ENV];
	unsigned n_env;
	int tty;                            /* -1 auto, 0 no, 1 yes */
	char **cmd;                         /* after "--"; NULL: a shell */
	const char *init;                   /* --init auto|PATH */
	const char *report;                 /* --report FILE (JSON) */
	const char *init_args[CLI_MAX_ENV], *init_env[CLI_MAX_ENV];
	unsigned n_init_args, n_init_env;
};

/* Parses `msbvm run` arguments (argv[0] is "run"). 1: help printed. */
int cli_parse_run(int argc, char **argv, struct run_opts *o);
/* A strict decimal MiB count within [min, max]; -EINVAL otherwise. */
int cli_parse_mib(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Boots the VM described by o; returns the process exit code. */
int run_vm(const struct run_opts *o, const char *self);

#endif
