#ifndef MSBVM_CMDS_H
#define MSBVM_CMDS_H

/* exec, cp, ls, stop (argv[0] is the command); -1 if not one of them. */
int cmds_main(int argc, char **argv);

#endif
