/* --init: hand PID 1 to a real init (agentd/init.c). */
#ifndef MSBVM_AGENTD_INIT_H
#define MSBVM_AGENTD_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/bootcfg.h"

#define INIT_MAX_ARGS BCFG_MAX_LIST  /* args, and env entries */
#define INIT_MAX_ENV 256             /* inherited from the kernel */
#define INIT_AGENT_LOG "/run/msbvm/agentd.log"
#define INIT_POWEROFF_GRACE_MS 10000

struct init_cfg {
	bool want;
	char *spec;                  /* "auto" or an absolute path */
	char path[256];              /* resolved */
	char *args[INIT_MAX_ARGS];
	unsigned argc;
	char *env[INIT_MAX_ARGS];    /* KEY=VAL */
	unsigned envc;
};

/* Filled from the boot configuration by agentd/config.c. */
/* Resolves and checks the init; false with err listing what was tried. */
bool init_preflight(struct init_cfg *c, char *err, size_t len);
/* Forks: the parent execs the init (never returns); the child returns as
 * the agent, in its own session, logging to INIT_AGENT_LOG. */
void init_handoff(struct init_cfg *c);
/* Agent under a handed-off PID 1: ask it to power off (never returns). */
void init_request_poweroff(void);

#endif
