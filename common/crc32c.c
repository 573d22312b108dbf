/* crc32c.c - see crc32c.h. isa-l's crc32_iscsi takes and returns the
 * non-inverted register, so the usual pre/post inversion happens here. */
#include "crc32c.h"

#include <isa-l/crc.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32_iscsi((unsigned char *)buf, (int)len, ~crc);
}
