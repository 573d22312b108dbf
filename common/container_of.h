/* container_of.h - from a member embedded in an object back to the
 * object. Every loop_op, disk_io and link_tx callback uses it: an owner
 * embeds the operation and gets itself back in the completion, so the
 * data path needs no lookup tables and no allocation.
 */
#ifndef BLOCKD_COMMON_CONTAINER_OF_H
#define BLOCKD_COMMON_CONTAINER_OF_H

#include <stddef.h>

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

#endif
