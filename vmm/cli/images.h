#ifndef MSBVM_CLI_IMAGES_H
#define MSBVM_CLI_IMAGES_H

/* pull, images, rmi, inspect, login, logout (argv[0] is the command);
 * -1 if not one of them. */
int images_main(int argc, char **argv);

#endif
