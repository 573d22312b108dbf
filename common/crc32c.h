/* crc32c.h - CRC32C (Castagnoli) over buffers, backed by isa-l.
 *
 * Pure: no I/O, no allocation. crc32c(0, buf, len) of "123456789" is
 * 0xe3069283, the standard check value.
 */
#ifndef BLOCKD_CRC32C_H
#define BLOCKD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: pass 0 to start, the previous result to extend. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
