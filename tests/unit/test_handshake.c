/* test_handshake.c - nbd/handshake.c: fixed newstyle option negotiation
 * (metadata contexts are in test_handshake_meta.c).
 *
 * Each test feeds option payloads built byte by byte and parses the reply
 * stream back (handshake_fixture.h): every reply must carry the option
 * reply magic and the option it answers, and the replies must add up to
 * exactly out.len, so a reply with a wrong length field fails every test
 * that sees it.
 */

#include "handshake_fixture.h"

static const struct nbd_export_info ex_ro = {
	.size_bytes = EX_SIZE,
	.read_only = true,
	.block_min = 512,
	.block_pref = 65536,
	.block_max = 1U << 20,
};

/* ---- client flags ----------------------------------------------------- */

static void test_client_flags(void **state)
{
	static const struct {
		uint8_t in[4];
		int want;
		bool no_zeroes;
	} rows[] = {
		{ { 0, 0, 0, 0 }, -EPROTO, false },
		{ { 0, 0, 0, 1 }, 0, false },
		{ { 0, 0, 0, 3 }, 0, true },
		{ { 0, 0, 0, 2 }, -EPROTO, false },	/* no FIXED */
		{ { 0, 0, 0, 5 }, -EPROTO, false },	/* unknown bit 2 */
		{ { 0, 0, 1, 1 }, -EPROTO, false },	/* unknown bit 8 */
		{ { 0x80, 0, 0, 1 }, -EPROTO, false },	/* unknown bit 31 */
		{ { 1, 0, 0, 0 }, -EPROTO, false },	/* little-endian 1 */
		{ { 0xff, 0xff, 0xff, 0xff }, -EPROTO, false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		int got;

		nbd_hs_init(&hs, &ex_rw, EXPORT_NAME, EXPORT_DESC);
		got = nbd_hs_client_flags(&hs, rows[i].in);
		if (got != rows[i].want)
			fail_msg("row %zu: got %d want %d", i, got,
				 rows[i].want);
		if (got == 0 && hs.no_zeroes != rows[i].no_zeroes)
			fail_msg("row %zu: no_zeroes %d", i, hs.no_zeroes);
	}
}

/* ---- GO / INFO -------------------------------------------------------- */

/* Check a successful GO/INFO answer: optional infos first, then
 * BLOCK_SIZE, EXPORT and ACK, each once. Returns the transmission flags
 * from INFO_EXPORT. */
static uint16_t expect_go_ok(uint32_t o, const struct nbd_export_info *ex)
{
	size_t n = parse_reps(o);
	int block_size = -1, export = -1;
	uint16_t tflags = 0;

	assert_true(n >= 3);
	assert_int_equal(reps[n - 1].type, NBD_REP_ACK);
	assert_int_equal(reps[n - 1].len, 0);
	for (size_t i = 0; i + 1 < n; i++) {
		const struct rep *r = &reps[i];

		if (r->type != NBD_REP_INFO)
			fail_msg("reply %zu: type 0x%08x", i, r->type);
		assert_true(r->len >= 2);
		switch (be16(r->data)) {
		case NBD_INFO_EXPORT:
			assert_int_equal(export, -1);
			export = (int)i;
			assert_int_equal(r->len, 12);
			assert_true(be64(r->data + 2) == ex->size_bytes);
			tflags = be16(r->data + 10);
			break;
		case NBD_INFO_BLOCK_SIZE:
			assert_int_equal(block_size, -1);
			block_size = (int)i;
			assert_int_equal(r->len, 14);
			assert_int_equal(be32(r->data + 2), ex->block_min);
			assert_int_equal(be32(r->data + 6), ex->block_pref);
			assert_int_equal(be32(r->data + 10), ex->block_max);
			break;
		case NBD_INFO_NAME:
		case NBD_INFO_DESCRIPTION:
			break;
		default:
			fail_msg("reply %zu: unknown info type %u", i,
				 be16(r->data));
		}
	}
	assert_true(export >= 0);
	assert_true(block_size >= 0);
	assert_int_equal(tflags,
			 nbd_transmission_flags(ex, &hs.session));
	return tflags;
}

static void test_go_exact_name(void **state)
{
	uint16_t f;

	(void)state;
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
	assert_int_equal(parse_reps(NBD_OPT_GO), 3);
	f = expect_go_ok(NBD_OPT_GO, &ex_rw);
	assert_true(f & NBD_FLAG_HAS_FLAGS);
	assert_true(f & NBD_FLAG_SEND_FLUSH);
	assert_true(f & NBD_FLAG_SEND_FUA);
	assert_true(f & NBD_FLAG_SEND_TRIM);
	assert_true(f & NBD_FLAG_SEND_WRITE_ZEROES);
	assert_false(f & NBD_FLAG_READ_ONLY);
}

static void test_go_empty_name_is_default(void **state)
{
	(void)state;
	pl_go("", NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
	expect_go_ok(NBD_OPT_GO, &ex_rw);
}

static void test_go_unknown_name(void **state)
{
	static const char *const names[] = {
		"r1", "r", "r00", "R0", "r0 ", " r0", "r0/other",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		pl_go(names[i], NULL, 0);
		if (opt_pl(NBD_OPT_GO) != NBD_HS_CONTINUE)
			fail_msg("GO \"%s\" did not continue", names[i]);
		expect_single(NBD_OPT_GO, NBD_REP_ERR_UNKNOWN);
		/* The message is text the user reads: non-empty. */
		assert_true(reps[0].len > 0);
	}
	/* A name with an embedded NUL must not match by C-string prefix. */
	pl_reset();
	pl_u32(3);
	pl_bytes("r0\0", 3);
	pl_u16(0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_CONTINUE);
	expect_single(NBD_OPT_GO, NBD_REP_ERR_UNKNOWN);

	/* The client may try again with the right name. */
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
}

static void test_info_does_not_transmit(void **state)
{
	(void)state;
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_INFO), NBD_HS_CONTINUE);
	expect_go_ok(NBD_OPT_INFO, &ex_rw);
	pl_go("nope", NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_INFO), NBD_HS_CONTINUE);
	expect_single(NBD_OPT_INFO, NBD_REP_ERR_UNKNOWN);
	/* And GO after INFO still works. */
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
}

static void test_go_read_only_export(void **state)
{
	uint16_t f;

	(void)state;
	nbd_hs_init(&hs, &ex_ro, EXPORT_NAME, EXPORT_DESC);
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
	f = expect_go_ok(NBD_OPT_GO, &ex_ro);
	assert_true(f & NBD_FLAG_READ_ONLY);
	assert_false(f & NBD_FLAG_SEND_TRIM);
	assert_false(f & NBD_FLAG_SEND_WRITE_ZEROES);
	assert_false(f & NBD_FLAG_SEND_FAST_ZERO);
}

/* Find the INFO reply of this info type; NULL when absent. */
static const struct rep *find_info(size_t n, uint16_t type)
{
	const struct rep *found = NULL;

	for (size_t i = 0; i < n; i++) {
		if (reps[i].type != NBD_REP_INFO || be16(reps[i].data) != type)
			continue;
		if (found)
			fail_msg("info type %u sent twice", type);
		found = &reps[i];
	}
	return found;
}

static void test_go_info_requests(void **state)
{
	static const uint16_t want_all[] = {
		NBD_INFO_NAME, NBD_INFO_DESCRIPTION, NBD_INFO_BLOCK_SIZE,
		NBD_INFO_EXPORT, 0x1234, 0xffff,
	};
	const struct rep *r;
	size_t n;

	(void)state;
	/* Asking for the name by the empty default name gets the real one. */
	pl_go("", want_all, ARRAY_LEN(want_all));
	assert_int_equal(opt_pl(NBD_OPT_INFO), NBD_HS_CONTINUE);
	expect_go_ok(NBD_OPT_INFO, &ex_rw);
	n = parse_reps(NBD_OPT_INFO);
	/* NAME, DESCRIPTION, BLOCK_SIZE, EXPORT, ACK: unknown infos are
	 * ignored, and asked-for BLOCK_SIZE/EXPORT are not duplicated. */
	assert_int_equal(n, 5);
	r = find_info(n, NBD_INFO_NAME);
	assert_non_null(r);
	assert_int_equal(r->len, 2 + strlen(EXPORT_NAME));
	assert_memory_equal(r->data + 2, EXPORT_NAME, strlen(EXPORT_NAME));
	r = find_info(n, NBD_INFO_DESCRIPTION);
	assert_non_null(r);
	assert_int_equal(r->len, 2 + strlen(EXPORT_DESC));
	assert_memory_equal(r->data + 2, EXPORT_DESC, strlen(EXPORT_DESC));
	assert_non_null(find_info(n, NBD_INFO_BLOCK_SIZE));
	assert_non_null(find_info(n, NBD_INFO_EXPORT));
}

static void test_go_no_description(void **state)
{
	static const uint16_t want[] = { NBD_INFO_DESCRIPTION };
	size_t n;

	(void)state;
	nbd_hs_init(&hs, &ex_rw, EXPORT_NAME, NULL);
	pl_go(EXPORT_NAME, want, ARRAY_LEN(want));
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
	expect_go_ok(NBD_OPT_GO, &ex_rw);
	n = parse_reps(NBD_OPT_GO);
	assert_null(find_info(n, NBD_INFO_DESCRIPTION));
	assert_int_equal(n, 3);
}

/* A client asking for the same info again and again must still get a
 * well-formed answer that fits out.buf and ends in ACK or one error. */
static void test_go_repeated_info_requests(void **state)
{
	static uint16_t many[2000];
	enum nbd_hs_result res;
	size_t n;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(many); i++)
		many[i] = (i & 1) ? NBD_INFO_DESCRIPTION : NBD_INFO_NAME;
	pl_go(EXPORT_NAME, many, ARRAY_LEN(many));
	res = opt_pl(NBD_OPT_GO);
	assert_true(out.len <= NBD_OUT_BYTES_MAX);
	n = parse_reps(NBD_OPT_GO);
	assert_true(n >= 1);
	if (reps[n - 1].type & NBD_REP_FLAG_ERROR) {
		assert_int_equal(n, 1);
		assert_int_equal(res, NBD_HS_CONTINUE);
	} else {
		assert_int_equal(reps[n - 1].type, NBD_REP_ACK);
		assert_int_equal(res, NBD_HS_TRANSMIT);
	}
}

static void test_go_refused(void **state)
{
	static const char msg[] = "r0 is Secondary: promote a node first";
	static const uint32_t opts[] = { NBD_OPT_GO, NBD_OPT_INFO };

	(void)state;
	hs.refuse_msg = msg;
	for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
		pl_go(EXPORT_NAME, NULL, 0);
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		expect_single(opts[i], NBD_REP_ERR_POLICY);
		assert_int_equal(reps[0].len, strlen(msg));
		assert_memory_equal(reps[0].data, msg, strlen(msg));

		pl_go("", NULL, 0);
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		expect_single(opts[i], NBD_REP_ERR_POLICY);

		/* Precedence: a wrong name is UNKNOWN, a malformed payload
		 * INVALID, before the policy refusal. */
		pl_go("r1", NULL, 0);
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		expect_single(opts[i], NBD_REP_ERR_UNKNOWN);
		pl_go(EXPORT_NAME, NULL, 0);
		pl.len--;
		assert_int_equal(opt_pl(opts[i]), NBD_HS_CONTINUE);
		expect_single(opts[i], NBD_REP_ERR_INVALID);
	}
	/* Once the export is served again, GO goes through. */
	hs.refuse_msg = NULL;
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
}

static void test_go_malformed(void **state)
{
	static const uint32_t opts[] = { NBD_OPT_GO, NBD_OPT_INFO };
	static const uint16_t one[] = { NBD_INFO_NAME };

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
		uint32_t o = opts[i];

		pl_reset();
		expect_invalid(o, "empty payload");

		/* name_len overflows the payload. */
		pl_reset();
		pl_u32(3);
		pl_bytes("r0", 2);
		pl_u16(0);
		expect_invalid(o, "name_len one too long");
		pl_reset();
		pl_u32(UINT32_MAX);
		pl_bytes("r0", 2);
		pl_u16(0);
		expect_invalid(o, "name_len UINT32_MAX");
		pl_reset();
		pl_u32(UINT32_MAX - 5);
		pl_u16(0);
		expect_invalid(o, "name_len wraps len - 6");

		/* Info count disagrees with the bytes that follow. */
		pl_go(EXPORT_NAME, one, 1);
		pl.b[pl.len - 3] = 2;
		expect_invalid(o, "count 2, one info");
		pl_go(EXPORT_NAME, one, 1);
		pl.b[pl.len - 3] = 0;
		expect_invalid(o, "count 0, one info");
		pl_go(EXPORT_NAME, one, 1);
		pl.b[pl.len - 4] = 0x80;
		expect_invalid(o, "count 0x8001");
		pl_go(EXPORT_NAME, one, 1);
		pl_bytes("x", 1);
		expect_invalid(o, "odd trailing byte");
		pl_go(EXPORT_NAME, NULL, 0);
		pl_u16(NBD_INFO_NAME);
		expect_invalid(o, "count 0, trailing info");
	}
}

/* Every strict prefix of a valid GO/INFO payload is malformed. */
static void test_go_every_prefix(void **state)
{
	static const uint32_t opts[] = { NBD_OPT_GO, NBD_OPT_INFO };
	static const uint16_t infos[] = {
		NBD_INFO_NAME, NBD_INFO_BLOCK_SIZE, NBD_INFO_DESCRIPTION,
	};
	static const char *const names[] = { EXPORT_NAME, "" };

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
		for (size_t k = 0; k < ARRAY_LEN(names); k++) {
			uint32_t full;

			pl_go(names[k], infos, ARRAY_LEN(infos));
			full = pl.len;
			for (uint32_t len = 0; len < full; len++) {
				char what[64];

				snprintf(what, sizeof(what), "%s prefix %u",
					 names[k], len);
				pl.len = len;
				expect_invalid(opts[i], what);
			}
		}
	}
	pl_go(EXPORT_NAME, infos, ARRAY_LEN(infos));
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
}

/* DF is only advertised once structured replies were negotiated. */
static void test_df_after_structured(void **state)
{
	uint16_t f;

	(void)state;
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_INFO), NBD_HS_CONTINUE);
	f = expect_go_ok(NBD_OPT_INFO, &ex_rw);
	assert_false(f & NBD_FLAG_SEND_DF);

	structured_on();
	assert_true(hs.session.structured);

	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
	f = expect_go_ok(NBD_OPT_GO, &ex_rw);
	assert_true(f & NBD_FLAG_SEND_DF);
}

/* ---- EXPORT_NAME ------------------------------------------------------ */

static void expect_export_name_reply(size_t want_len, uint16_t want_flags)
{
	assert_int_equal(out.len, want_len);
	assert_true(be64(out.buf) == EX_SIZE);
	assert_int_equal(be16(out.buf + 8), want_flags);
	for (size_t i = NBD_EXPORT_NAME_REPLY_BYTES; i < want_len; i++)
		if (out.buf[i] != 0)
			fail_msg("zero padding byte %zu is 0x%02x", i,
				 out.buf[i]);
}

static void test_export_name(void **state)
{
	static const uint8_t with_zeroes[4] = { 0, 0, 0, 1 };
	static const uint8_t no_zeroes[4] = { 0, 0, 0, 3 };
	uint16_t f = nbd_transmission_flags(&ex_rw, &hs.session);

	(void)state;
	assert_int_equal(nbd_hs_client_flags(&hs, with_zeroes), 0);
	assert_int_equal(opt(NBD_OPT_EXPORT_NAME, EXPORT_NAME,
			     strlen(EXPORT_NAME)), NBD_HS_TRANSMIT);
	expect_export_name_reply(134, f);

	setup(NULL);
	assert_int_equal(nbd_hs_client_flags(&hs, no_zeroes), 0);
	assert_int_equal(opt(NBD_OPT_EXPORT_NAME, EXPORT_NAME,
			     strlen(EXPORT_NAME)), NBD_HS_TRANSMIT);
	expect_export_name_reply(10, f);

	/* The empty name selects the default export. */
	setup(NULL);
	assert_int_equal(nbd_hs_client_flags(&hs, no_zeroes), 0);
	assert_int_equal(opt(NBD_OPT_EXPORT_NAME, "", 0), NBD_HS_TRANSMIT);
	expect_export_name_reply(10, f);

	/* Structured replies negotiated first: DF shows up here too. */
	setup(NULL);
	assert_int_equal(nbd_hs_client_flags(&hs, no_zeroes), 0);
	structured_on();
	assert_int_equal(opt(NBD_OPT_EXPORT_NAME, EXPORT_NAME,
			     strlen(EXPORT_NAME)), NBD_HS_TRANSMIT);
	expect_export_name_reply(10, f | NBD_FLAG_SEND_DF);
}

/* EXPORT_NAME has no error reply: a refusal is a silent close. */
static void test_export_name_refused(void **state)
{
	static const char *const names[] = { "r1", "r", "r00", "R0" };
	char name[2 * sizeof(EXPORT_NAME)];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		setup(NULL);
		assert_int_equal(opt(NBD_OPT_EXPORT_NAME, names[i],
				     strlen(names[i])), NBD_HS_CLOSE);
		assert_int_equal(out.len, 0);
	}
	/* Every non-empty strict prefix of the name is another name. */
	for (uint32_t len = 1; len < strlen(EXPORT_NAME); len++) {
		setup(NULL);
		assert_int_equal(opt(NBD_OPT_EXPORT_NAME, EXPORT_NAME, len),
				 NBD_HS_CLOSE);
		assert_int_equal(out.len, 0);
	}
	setup(NULL);
	memcpy(name, EXPORT_NAME, sizeof(EXPORT_NAME));
	assert_int_equal(opt(NBD_OPT_EXPORT_NAME, name, sizeof(EXPORT_NAME)),
			 NBD_HS_CLOSE);

	setup(NULL);
	hs.refuse_msg = "not Primary";
	assert_int_equal(opt(NBD_OPT_EXPORT_NAME, EXPORT_NAME,
			     strlen(EXPORT_NAME)), NBD_HS_CLOSE);
	assert_int_equal(out.len, 0);
}

/* ---- other options ---------------------------------------------------- */

static void test_unknown_option(void **state)
{
	static const uint32_t opts[] = {
		0, NBD_OPT_PEEK_EXPORT, NBD_OPT_STARTTLS,
		NBD_OPT_EXTENDED_HEADERS, 12, 0x7fffffff, 0x80000000,
		UINT32_MAX,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
		pl_reset();
		pl_bytes("payload", 7);
		if (opt_pl(opts[i]) != NBD_HS_CONTINUE)
			fail_msg("option %u did not continue", opts[i]);
		expect_single(opts[i], NBD_REP_ERR_UNSUP);
	}
	/* Negotiation goes on normally afterwards. */
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
	expect_go_ok(NBD_OPT_GO, &ex_rw);
}

static void test_abort(void **state)
{
	(void)state;
	assert_int_equal(opt(NBD_OPT_ABORT, NULL, 0), NBD_HS_CLOSE);
	expect_ack_only(NBD_OPT_ABORT);
}

static void test_list(void **state)
{
	(void)state;
	assert_int_equal(opt(NBD_OPT_LIST, NULL, 0), NBD_HS_CONTINUE);
	assert_int_equal(parse_reps(NBD_OPT_LIST), 2);
	assert_int_equal(reps[0].type, NBD_REP_SERVER);
	assert_int_equal(reps[0].len, 4 + strlen(EXPORT_NAME));
	assert_int_equal(be32(reps[0].data), strlen(EXPORT_NAME));
	assert_memory_equal(reps[0].data + 4, EXPORT_NAME,
			    strlen(EXPORT_NAME));
	assert_int_equal(reps[1].type, NBD_REP_ACK);
	assert_int_equal(reps[1].len, 0);

	assert_int_equal(opt(NBD_OPT_LIST, "x", 1), NBD_HS_CONTINUE);
	expect_single(NBD_OPT_LIST, NBD_REP_ERR_INVALID);
}

static void test_structured_reply(void **state)
{
	(void)state;
	assert_int_equal(opt(NBD_OPT_STRUCTURED_REPLY, "x", 1),
			 NBD_HS_CONTINUE);
	expect_single(NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID);
	assert_false(hs.session.structured);

	structured_on();
	assert_true(hs.session.structured);
	/* Asking twice is harmless. */
	structured_on();
	assert_true(hs.session.structured);
}

/* ---- limits ----------------------------------------------------------- */

static void test_option_count_cap(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NBD_OPT_COUNT_MAX; i++) {
		if (opt(NBD_OPT_LIST, NULL, 0) != NBD_HS_CONTINUE)
			fail_msg("option %u of %u closed", i + 1,
				 NBD_OPT_COUNT_MAX);
	}
	/* Even a valid GO is too many now; nothing is sent. */
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_CLOSE);
	assert_int_equal(out.len, 0);
}

/* Each call's replies replace the previous call's. */
static void test_out_reset(void **state)
{
	(void)state;
	pl_go(EXPORT_NAME, NULL, 0);
	assert_int_equal(opt_pl(NBD_OPT_INFO), NBD_HS_CONTINUE);
	assert_true(out.len > NBD_OPT_REPLY_BYTES);
	assert_int_equal(nbd_hs_option(&hs, NBD_OPT_STRUCTURED_REPLY, NULL, 0,
				       &out), NBD_HS_CONTINUE);
	expect_ack_only(NBD_OPT_STRUCTURED_REPLY);
}

/* A full, typical negotiation: what qemu-nbd and nbd-client send. */
static void test_typical_session(void **state)
{
	static const uint8_t flags[4] = { 0, 0, 0, 3 };
	static const uint16_t infos[] = { NBD_INFO_BLOCK_SIZE };

	(void)state;
	assert_int_equal(nbd_hs_client_flags(&hs, flags), 0);
	structured_on();
	pl_meta(EXPORT_NAME, q_base, 1);
	assert_int_equal(opt_pl(NBD_OPT_SET_META_CONTEXT), NBD_HS_CONTINUE);
	expect_context_then_ack(NBD_OPT_SET_META_CONTEXT);
	pl_go(EXPORT_NAME, infos, 1);
	assert_int_equal(opt_pl(NBD_OPT_GO), NBD_HS_TRANSMIT);
	expect_go_ok(NBD_OPT_GO, &ex_rw);
	assert_true(hs.no_zeroes);
	assert_true(hs.session.structured);
	assert_true(hs.session.meta_base_alloc);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_client_flags),
		T(test_go_exact_name),
		T(test_go_empty_name_is_default),
		T(test_go_unknown_name),
		T(test_info_does_not_transmit),
		T(test_go_read_only_export),
		T(test_go_info_requests),
		T(test_go_no_description),
		T(test_go_repeated_info_requests),
		T(test_go_refused),
		T(test_go_malformed),
		T(test_go_every_prefix),
		T(test_df_after_structured),
		T(test_export_name),
		T(test_export_name_refused),
		T(test_unknown_option),
		T(test_abort),
		T(test_list),
		T(test_structured_reply),
		T(test_option_count_cap),
		T(test_out_reset),
		T(test_typical_session),
	};

	return cmocka_run_group_tests_name("handshake", tests, NULL, NULL);
}
