/* uuid_fixture.h - nodes as the uuid_compare tables spell them and the
 * helpers that turn them into sides and mirror decisions, shared by
 * test_uuid.c (table rows, policies, names) and test_uuid_exhaustive.c.
 */
#ifndef BLOCKD_TEST_UUID_FIXTURE_H
#define BLOCKD_TEST_UUID_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/uuid.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Generation UUIDs: JC is "just created", the rest arbitrary. */
#define JC UUID_JUST_CREATED
#define UA 0xaaaa00000000000aULL
#define UB 0xbbbb00000000000bULL
#define UC 0xcccc00000000000cULL
#define UD 0xdddd00000000000dULL
#define UE 0xeeee00000000000eULL

#define CRASH MDF_CRASHED_PRIMARY
#define OUTD MDF_OUTDATED
/* Row-only markers, not MDF_* bits: INC, this node is Inconsistent
 * (side_of leaves MDF_CONSISTENT off; rows without it describe
 * Consistent nodes); PRIM, it is Primary now; HACK, below. */
#define INC (1U << 31)
#define PRIM (1U << 30)
/* HACK: it holds every write its Primary acknowledged (holds_acked). */
#define HACK (1U << 29)

/* A node as a row spells it: current, bitmap, history 1 and 2, flags,
 * bytes in its bitmap. */
struct node {
	uint64_t c, b, h1, h2;
	uint32_t flags;
	uint64_t dirty;
};

static struct uuid_side side_of(const struct node *n)
{
	struct uuid_side s = {
		.uuid = { n->c, n->b, n->h1, n->h2 },
		.flags = (n->flags & ~(INC | PRIM | HACK)) |
			 (n->flags & INC ? 0 : MDF_CONSISTENT),
		.primary = n->flags & PRIM,
		.primary_since = n->flags & PRIM ? 1764288000 : 0,
		.dirty_bytes = n->dirty,
		.holds_acked = n->flags & HACK,
	};

	return s;
}

static enum uuid_decision mirror(enum uuid_decision d)
{
	switch (d) {
	case UD_SOURCE_BITMAP:
		return UD_TARGET_BITMAP;
	case UD_TARGET_BITMAP:
		return UD_SOURCE_BITMAP;
	case UD_SOURCE_FULL:
		return UD_TARGET_FULL;
	case UD_TARGET_FULL:
		return UD_SOURCE_FULL;
	default:
		return d;
	}
}

/* The rule name the peer logs for the same situation: "self" and "peer"
 * swap places, symmetric rules keep their name. */
static void mirror_rule(const char *rule, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; rule[i] && o + 1 < len;) {
		if (!strncmp(rule + i, "self", 4) && o + 5 < len) {
			memcpy(out + o, "peer", 4);
			o += 4;
			i += 4;
		} else if (!strncmp(rule + i, "peer", 4) && o + 5 < len) {
			memcpy(out + o, "self", 4);
			o += 4;
			i += 4;
		} else {
			out[o++] = rule[i++];
		}
	}
	out[o] = 0;
}

/* Does being Outdated decide (same generation, alike in consistency):
 * one side is, and it is not one holding every write its crashed peer
 * acknowledged as Primary. */
static inline bool outdated_decides(const struct uuid_side *s,
				    const struct uuid_side *p)
{
	bool s_out = s->flags & MDF_OUTDATED, p_out = p->flags & MDF_OUTDATED;

	return s_out != p_out &&
	       !(s_out ? (p->flags & CRASH) && s->holds_acked
		       : (s->flags & CRASH) && p->holds_acked);
}

/* Does the role decide here: the same generation (not a blank one),
 * alike in consistency, not decided by being Outdated, exactly one side
 * Primary now, and something to reconcile: a crashed Primary's flag or
 * bits, on either side. */
static inline bool role_decides(const struct uuid_side *s,
				const struct uuid_side *p)
{
	return s->uuid[UUID_CURRENT] == p->uuid[UUID_CURRENT] &&
	       s->uuid[UUID_CURRENT] != JC &&
	       !(s->flags & MDF_CONSISTENT) == !(p->flags & MDF_CONSISTENT) &&
	       !outdated_decides(s, p) &&
	       s->primary != p->primary &&
	       ((s->flags & CRASH) || (p->flags & CRASH) ||
		s->dirty_bytes || p->dirty_bytes);
}

#endif
