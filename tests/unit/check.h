/* Minimal test harness: CHECK() records a failure with its location and
 * goes on; main returns check_result(). */
#ifndef MSBVM_CHECK_H
#define MSBVM_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                          \
	do {                                                                 \
		check_count++;                                               \
		if (!(cond)) {                                               \
			check_failures++;                                    \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",         \
				__FILE__, __LINE__, #cond);                  \
		}                                                            \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                      \
	do {                                                                 \
		check_count++;                                               \
		if (!strstr((hay), (needle))) {                              \
			check_failures++;                                    \
			fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", \
				__FILE__, __LINE__, (hay), (needle));        \
		}                                                            \
	} while (0)

static inline int check_result(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
