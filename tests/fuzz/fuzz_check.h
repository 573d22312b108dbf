/* fuzz_check.h - the fuzz targets' invariant check: a violated invariant
 * is reported with its place and aborts, which libFuzzer records as a
 * crash with the input that caused it. */
#ifndef BLOCKD_FUZZ_CHECK_H
#define BLOCKD_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: invariant failed: %s\n", \
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

#endif
