/* detach.h - a node without a usable disk: its disk failed, the operator
 * detached it, or one is attached again (see detach.c).
 *
 * Called from the disk's and the metadata's failure callbacks, every
 * module that asks whether the disk may be used, and the detach and
 * attach commands.
 */
#ifndef BLOCKD_ENGINE_DETACH_H
#define BLOCKD_ENGINE_DETACH_H

#include <stdbool.h>
#include <stddef.h>

struct resource;

struct detach {
	bool detaching;		/* detach requested: Diskless once drained */
	int disk_error;		/* -errno that failed the disk, 0 if none */
};

/* Is the local disk in use (not Failed, Diskless or being detached)? */
bool resource_has_disk(const struct resource *res);
/* The disk (or its metadata) failed: detach it. */
void resource_disk_failed(struct resource *res, int err);
/* A metadata write completed: a detach waiting for it may finish. */
void detach_poll(struct resource *res);
/* Route the disk's failure and idle callbacks here (after disk_open). */
void resource_disk_bind(struct resource *res);
int resource_detach(struct resource *res, char *err, size_t errlen);
int resource_attach(struct resource *res, char *err, size_t errlen);

#endif
