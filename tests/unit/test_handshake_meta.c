/* test_handshake_meta.c - nbd/handshake.c: NBD_OPT_SET_META_CONTEXT and
 * NBD_OPT_LIST_META_CONTEXT, with the reply stream checked as in
 * test_handshake.c (handshake_fixture.h).
 */

#include "handshake_fixture.h"

/* ---- meta contexts ---------------------------------------------------- */

static void test_meta_before_structured(void **state)
{
	static const uint32_t opts[] = {
		NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
		pl_meta(EXPORT_NAME, q_base, 1);
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		expect_single(opts[i], NBD_REP_ERR_INVALID);
	}
	assert_false(hs.session.meta_base_alloc);
}

static void test_meta_set_base_allocation(void **state)
{
	struct nbd_request rq = {
		.type = NBD_CMD_BLOCK_STATUS, .offset = 0, .length = 4096,
	};

	(void)state;
	structured_on();
	assert_int_equal(nbd_check_request(&rq, &ex_rw, &hs.session),
			 NBD_EINVAL);
	pl_meta(EXPORT_NAME, q_base, 1);
	assert_int_equal(opt_pl(NBD_OPT_SET_META_CONTEXT), NBD_HS_CONTINUE);
	expect_context_then_ack(NBD_OPT_SET_META_CONTEXT);
	assert_true(hs.session.meta_base_alloc);
	assert_int_equal(nbd_check_request(&rq, &ex_rw, &hs.session), 0);

	/* The empty name is the default export here too. */
	pl_meta("", q_base, 1);
	assert_int_equal(opt_pl(NBD_OPT_SET_META_CONTEXT), NBD_HS_CONTINUE);
	expect_context_then_ack(NBD_OPT_SET_META_CONTEXT);
	assert_true(hs.session.meta_base_alloc);

	/* A later SET replaces the selection: zero queries clears it. */
	pl_meta(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_SET_META_CONTEXT), NBD_HS_CONTINUE);
	expect_ack_only(NBD_OPT_SET_META_CONTEXT);
	assert_false(hs.session.meta_base_alloc);
	assert_int_equal(nbd_check_request(&rq, &ex_rw, &hs.session),
			 NBD_EINVAL);
}

static void test_meta_set_other_queries(void **state)
{
	static const char *const mixed[] = {
		"qemu:dirty-bitmap:b0", NBD_META_BASE_ALLOCATION, "x:y",
		NBD_META_BASE_ALLOCATION,
	};
	static const char *const none[] = {
		"base:", "base:allocation2", "base:allocatio", "BASE:allocation",
		"qemu:allocation-depth", "",
	};

	(void)state;
	structured_on();
	/* Several queries, base:allocation among them (twice): one reply. */
	pl_meta(EXPORT_NAME, mixed, ARRAY_LEN(mixed));
	assert_int_equal(opt_pl(NBD_OPT_SET_META_CONTEXT), NBD_HS_CONTINUE);
	expect_context_then_ack(NBD_OPT_SET_META_CONTEXT);
	assert_true(hs.session.meta_base_alloc);

	/* SET never selects by namespace alone, nor by near misses. */
	for (size_t i = 0; i < ARRAY_LEN(none); i++) {
		pl_meta(EXPORT_NAME, &none[i], 1);
		assert_int_equal(opt_pl(NBD_OPT_SET_META_CONTEXT),
				 NBD_HS_CONTINUE);
		expect_ack_only(NBD_OPT_SET_META_CONTEXT);
		if (hs.session.meta_base_alloc)
			fail_msg("\"%s\" selected base:allocation", none[i]);
	}
}

static void test_meta_list(void **state)
{
	static const char *const ns[] = { "base:" };
	static const char *const other[] = { "qemu:", "base:x" };

	(void)state;
	structured_on();
	pl_meta(EXPORT_NAME, q_base, 1);
	assert_int_equal(opt_pl(NBD_OPT_LIST_META_CONTEXT), NBD_HS_CONTINUE);
	expect_context_then_ack(NBD_OPT_LIST_META_CONTEXT);

	pl_meta(EXPORT_NAME, ns, 1);
	assert_int_equal(opt_pl(NBD_OPT_LIST_META_CONTEXT), NBD_HS_CONTINUE);
	expect_context_then_ack(NBD_OPT_LIST_META_CONTEXT);

	/* Zero queries lists everything the server has. */
	pl_meta(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_LIST_META_CONTEXT), NBD_HS_CONTINUE);
	expect_context_then_ack(NBD_OPT_LIST_META_CONTEXT);

	pl_meta(EXPORT_NAME, other, ARRAY_LEN(other));
	assert_int_equal(opt_pl(NBD_OPT_LIST_META_CONTEXT), NBD_HS_CONTINUE);
	expect_ack_only(NBD_OPT_LIST_META_CONTEXT);

	/* Listing never changes what is selected. */
	assert_false(hs.session.meta_base_alloc);
}

static void test_meta_query_count(void **state)
{
	static const char *q[NBD_META_QUERIES_MAX + 1];
	static const uint32_t opts[] = {
		NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(q); i++)
		q[i] = "qemu:dirty-bitmap:b";
	q[NBD_META_QUERIES_MAX - 1] = NBD_META_BASE_ALLOCATION;
	structured_on();
	for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
		pl_meta(EXPORT_NAME, q, NBD_META_QUERIES_MAX);
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		expect_context_then_ack(opts[i]);

		pl_meta(EXPORT_NAME, q, NBD_META_QUERIES_MAX + 1);
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		expect_single(opts[i], NBD_REP_ERR_TOO_BIG);

		/* A count far beyond the payload is refused the same way,
		 * without reading past it. */
		pl_reset();
		pl_str(EXPORT_NAME);
		pl_u32(UINT32_MAX);
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		assert_int_equal(parse_reps(opts[i]), 1);
		assert_true(reps[0].type == NBD_REP_ERR_TOO_BIG ||
			    reps[0].type == NBD_REP_ERR_INVALID);
	}
	/* The refused SET left the earlier selection alone. */
	assert_true(hs.session.meta_base_alloc);
}

static void test_meta_malformed(void **state)
{
	static const uint32_t opts[] = {
		NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT,
	};

	(void)state;
	structured_on();
	for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
		uint32_t o = opts[i];

		pl_reset();
		expect_invalid(o, "empty payload");

		pl_reset();
		pl_u32(UINT32_MAX);
		pl_u32(0);
		expect_invalid(o, "name_len UINT32_MAX");
		pl_reset();
		pl_u32(UINT32_MAX - 7);
		pl_u32(0);
		expect_invalid(o, "name_len wraps len - 8");
		pl_reset();
		pl_u32(3);
		pl_bytes("r0", 2);
		pl_u32(0);
		expect_invalid(o, "name_len one too long");

		/* Query length overflows. */
		pl_meta(EXPORT_NAME, q_base, 1);
		pl.b[pl.len - strlen(NBD_META_BASE_ALLOCATION) - 1]++;
		expect_invalid(o, "query length one too long");
		pl_meta(EXPORT_NAME, q_base, 1);
		memset(pl.b + pl.len - strlen(NBD_META_BASE_ALLOCATION) - 4,
		       0xff, 4);
		expect_invalid(o, "query length UINT32_MAX");
		pl_meta(EXPORT_NAME, q_base, 1);
		memcpy(pl.b + pl.len - strlen(NBD_META_BASE_ALLOCATION) - 4,
		       "\xff\xff\xff\xf8", 4);
		expect_invalid(o, "query length wraps pos");

		/* Count and queries disagree. */
		pl_meta(EXPORT_NAME, q_base, 1);
		pl.b[4 + strlen(EXPORT_NAME) + 3] = 2;
		expect_invalid(o, "count 2, one query");
		pl_meta(EXPORT_NAME, q_base, 1);
		pl.b[4 + strlen(EXPORT_NAME) + 3] = 0;
		expect_invalid(o, "count 0, one query");
		pl_meta(EXPORT_NAME, q_base, 1);
		pl_bytes("x", 1);
		expect_invalid(o, "trailing byte");
		pl_meta(EXPORT_NAME, q_base, 1);
		pl_u32(0);
		expect_invalid(o, "trailing empty query");
	}
	assert_false(hs.session.meta_base_alloc);
}

/* Every strict prefix of a valid meta context payload is malformed. */
static void test_meta_every_prefix(void **state)
{
	static const char *const q[] = { "base:", NBD_META_BASE_ALLOCATION };
	static const uint32_t opts[] = {
		NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT,
	};

	(void)state;
	structured_on();
	for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
		uint32_t full;

		pl_meta(EXPORT_NAME, q, ARRAY_LEN(q));
		full = pl.len;
		for (uint32_t len = 0; len < full; len++) {
			char what[32];

			snprintf(what, sizeof(what), "prefix %u", len);
			pl.len = len;
			expect_invalid(opts[i], what);
		}
		pl.len = full;
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		expect_context_then_ack(opts[i]);
	}
	assert_true(hs.session.meta_base_alloc);
}

static void test_meta_wrong_export(void **state)
{
	static const uint32_t opts[] = {
		NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT,
	};

	(void)state;
	structured_on();
	for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
		pl_meta("r1", q_base, 1);
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		expect_single(opts[i], NBD_REP_ERR_UNKNOWN);

		/* Malformed outranks the unknown name. */
		pl_meta("r1", q_base, 1);
		pl.len--;
		expect_invalid(opts[i], "wrong name, truncated");
	}
	assert_false(hs.session.meta_base_alloc);
}


#define T(f) cmocka_unit_test_setup(f, setup)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_meta_before_structured),
		T(test_meta_set_base_allocation),
		T(test_meta_set_other_queries),
		T(test_meta_list),
		T(test_meta_query_count),
		T(test_meta_malformed),
		T(test_meta_every_prefix),
		T(test_meta_wrong_export),
	};

	return cmocka_run_group_tests_name("handshake_meta", tests, NULL, NULL);
}
