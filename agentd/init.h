/* --init: hand PID 1 to a real init (agentd/init.c). */
#ifndef MSBVM_AGENTD_INIT_H
#define MSBVM_AGENTD_INIT_H

#include <stdbool.h>
#include <stddef.h>

#define INIT_MAX_ARGS 32
#define INIT_MAX_ENV 256
#define INIT_AGENT_LOG "/run/msbvm/agentd.log"
#define INIT_POWEROFF_GRACE_MS 10000

struct init_cfg {
	bool want;
	char *spec;                  /* "auto" or a path */
	char path[256];              /* resolved */
	char *args[INIT_MAX_ARGS];
	unsigned argc;
	char *env[INIT_MAX_ARGS];    /* KEY=VAL */
	unsigned envc;
};

/* Percent-decoding in place (msbvm encodes every byte outside a safe set);
 * false on a malformed escape, and on %00, which would cut the value. */
bool init_unescape(char *s);
/* msb.init* from a writable copy of the command line; false if malformed. */
bool init_parse(char *cmdline, struct init_cfg *c);
/* Resolves and checks the init; false with err listing what was tried. */
bool init_preflight(struct init_cfg *c, char *err, size_t len);
/* Forks: the parent execs the init (never returns); the child returns as
 * the agent, in its own session, logging to INIT_AGENT_LOG. */
void init_handoff(struct init_cfg *c);
/* Agent under a handed-off PID 1: ask it to power off (never returns). */
void init_request_poweroff(void);

#endif
