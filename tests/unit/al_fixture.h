/* al_fixture.h - the activity log under test and the helpers that read
 * its slots, shared by test_al.c (fixed cases) and test_al_model.c (random
 * sequences against a model).
 */
#ifndef BLOCKD_TEST_AL_FIXTURE_H
#define BLOCKD_TEST_AL_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/al.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define EXT META_EXTENT_BYTES

/* The log under test lives here so the teardown frees it when an
 * assertion fails. */
static struct al al;
static struct meta_al tx;

static inline int al_teardown(void **state)
{
	(void)state;
	al_fini(&al);
	return 0;
}

static inline uint32_t slot_state(const struct al *a, uint32_t ext)
{
	uint32_t s = a->slot_of[ext];

	return s ? a->slots[s - 1].state : AL_FREE;
}

static inline uint32_t refs_of(const struct al *a, uint32_t ext)
{
	uint32_t s = a->slot_of[ext];

	return s ? a->slots[s - 1].refs : 0;
}
/* Sum of the references over every slot. */
static inline uint64_t total_refs(const struct al *a)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < a->cap; i++)
		n += a->slots[i].refs;
	return n;
}

/* Does a write that got this answer hold references (and owe al_end)? */
static inline bool holds(enum al_begin_result r)
{
	return r == AL_READY || r == AL_WAIT_HELD;
}

#endif
