/* test_codec_errno.c - nbd/codec.c: which NBD error a reply carries.
 *
 * Host errno values are mapped to the few the protocol names, and the
 * errors the spec reserves for particular request flags (ENOTSUP for
 * FAST_ZERO, EOVERFLOW for DF) never reach other requests. The wire
 * numbers are checked as literals, not against errno.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "nbd/codec.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void test_errno_to_wire(void **state)
{
	static const struct {
		int err;
		uint32_t want;
	} rows[] = {
		{ 0, 0 },
		{ EPERM, NBD_EPERM },
		{ EROFS, NBD_EPERM },
		{ EIO, NBD_EIO },
		{ ENOMEM, NBD_ENOMEM },
		{ EINVAL, NBD_EINVAL },
		{ ENOSPC, NBD_ENOSPC },
		{ EFBIG, NBD_ENOSPC },
		{ EDQUOT, NBD_ENOSPC },
		{ EOVERFLOW, NBD_EOVERFLOW },
		{ ENOTSUP, NBD_ENOTSUP },
		{ EOPNOTSUPP, NBD_ENOTSUP },
		{ ESHUTDOWN, NBD_ESHUTDOWN },
		/* Anything the protocol has no name for is an I/O error. */
		{ EBADF, NBD_EIO },
		{ ENODEV, NBD_EIO },
		{ ETIMEDOUT, NBD_EIO },
		{ EAGAIN, NBD_EIO },
		{ EPROTO, NBD_EIO },
		{ -EIO, NBD_EIO },
		{ 100000, NBD_EIO },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		uint32_t got = nbd_errno_to_wire(rows[i].err);

		if (got != rows[i].want)
			fail_msg("errno %d: got %u want %u", rows[i].err, got,
				 rows[i].want);
	}
}

/* ENOTSUP and EOVERFLOW are reserved for the requests whose flags ask
 * for them; anywhere else the reply carries EINVAL. */
static void test_errno_for_request(void **state)
{
	static const struct {
		const char *name;
		uint16_t type, flags;
		int err;
		uint32_t want;
	} rows[] = {
		{ "zeroes FAST_ZERO ENOTSUP", NBD_CMD_WRITE_ZEROES,
		  NBD_CMD_FLAG_FAST_ZERO, ENOTSUP, NBD_ENOTSUP },
		{ "zeroes FAST_ZERO EOPNOTSUPP", NBD_CMD_WRITE_ZEROES,
		  NBD_CMD_FLAG_FAST_ZERO | NBD_CMD_FLAG_FUA, EOPNOTSUPP,
		  NBD_ENOTSUP },
		{ "zeroes ENOTSUP", NBD_CMD_WRITE_ZEROES, 0, ENOTSUP,
		  NBD_EINVAL },
		{ "flush ENOTSUP", NBD_CMD_FLUSH, 0, ENOTSUP, NBD_EINVAL },
		{ "trim ENOTSUP", NBD_CMD_TRIM, 0, EOPNOTSUPP, NBD_EINVAL },
		{ "write ENOTSUP", NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, ENOTSUP,
		  NBD_EINVAL },
		{ "read DF EOVERFLOW", NBD_CMD_READ, NBD_CMD_FLAG_DF, EOVERFLOW,
		  NBD_EOVERFLOW },
		{ "read EOVERFLOW", NBD_CMD_READ, 0, EOVERFLOW, NBD_EINVAL },
		{ "block_status EOVERFLOW", NBD_CMD_BLOCK_STATUS, 0, EOVERFLOW,
		  NBD_EINVAL },
		/* Everything else maps as nbd_errno_to_wire does. */
		{ "read EIO", NBD_CMD_READ, NBD_CMD_FLAG_DF, EIO, NBD_EIO },
		{ "write ENOSPC", NBD_CMD_WRITE, 0, ENOSPC, NBD_ENOSPC },
		{ "write EROFS", NBD_CMD_WRITE, 0, EROFS, NBD_EPERM },
		{ "flush ESHUTDOWN", NBD_CMD_FLUSH, 0, ESHUTDOWN,
		  NBD_ESHUTDOWN },
		{ "trim success", NBD_CMD_TRIM, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct nbd_request r = {
			.flags = rows[i].flags,
			.type = rows[i].type,
			.length = 4096,
		};
		uint32_t got = nbd_errno_for_request(&r, rows[i].err);

		if (got != rows[i].want)
			fail_msg("%s: got %u want %u", rows[i].name, got,
				 rows[i].want);
	}
}

/* The wire numbers are fixed by the protocol, not by the host's errno.h. */
static void test_wire_error_values(void **state)
{
	(void)state;
	assert_int_equal(NBD_EPERM, 1);
	assert_int_equal(NBD_EIO, 5);
	assert_int_equal(NBD_ENOMEM, 12);
	assert_int_equal(NBD_EINVAL, 22);
	assert_int_equal(NBD_ENOSPC, 28);
	assert_int_equal(NBD_EOVERFLOW, 75);
	assert_int_equal(NBD_ENOTSUP, 95);
	assert_int_equal(NBD_ESHUTDOWN, 108);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_to_wire),
		cmocka_unit_test(test_errno_for_request),
		cmocka_unit_test(test_wire_error_values),
	};

	return cmocka_run_group_tests_name("codec_errno", tests, NULL, NULL);
}
