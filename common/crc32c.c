/* crc32c.c - see crc32c.h. isa-l's crc32_iscsi takes and returns the
 * non-inverted register, so the usual pre/post inversion happens here. */
#include "common/crc32c.h"

#include <isa-l/crc.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t reg = ~crc;

	/* isa-l takes an int length: feed longer buffers in pieces. */
	while (len > 0) {
		int n = len > (1U << 30) ? 1 << 30 : (int)len;

		reg = crc32_iscsi((unsigned char *)p, n, reg);
		p += n;
		len -= (size_t)n;
	}
	return ~reg;
}
