/* simdisk.c - see simdisk.h. */
#include "simdisk.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "simbuf.h"

#define SD_BLOCK 4096U

int simdisk_init(struct simdisk *d, const char *name, struct sched *s,
		 uint64_t seed, uint64_t size, const struct simdisk_knobs *k)
{
	*d = (struct simdisk){ 0 };
	d->name = name;
	d->sched = s;
	d->k = *k;
	d->size = size;
	rng_seed(&d->rng, seed);
	d->fd = memfd_create(name, MFD_CLOEXEC);
	if (d->fd < 0)
		return -errno;
	if (ftruncate(d->fd, (off_t)size) < 0)
		return -errno;
	/* Every seed writes most of the disk (a full resync at least):
	 * mapping all of it at once costs far less than a fault per page. */
	d->map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_POPULATE, d->fd, 0);
	if (d->map == MAP_FAILED) {
		d->map = NULL;
		return -errno;
	}
	return 0;
}

static void vw_free(struct simdisk *d)
{
	for (size_t i = 0; i < d->nvw; i++)
		simbuf_free(d->vw[i].data);
	d->nvw = 0;
}

void simdisk_fini(struct simdisk *d)
{
	for (struct simdisk_req *q = d->inflight; q; q = q->next_inflight)
		sched_cancel(d->sched, &q->ev);
	vw_free(d);
	free(d->vw);
	if (d->map)
		munmap(d->map, d->size);
	if (d->fd >= 0)
		close(d->fd);
	*d = (struct simdisk){ 0 };
	d->fd = -1;
}

static void durable_write(struct simdisk *d, uint64_t off, uint32_t len,
			  const uint8_t *data)
{
	assert(off + len <= d->size);
	if (data)
		memcpy(d->map + off, data, len);
	else
		memset(d->map + off, 0, len);
}

/* Make volatile writes durable: those completed before a flush was
 * issued (seq < upto). */
static void vw_commit(struct simdisk *d, uint64_t upto)
{
	size_t keep = 0;

	for (size_t i = 0; i < d->nvw; i++) {
		struct simdisk_vw *w = &d->vw[i];

		if (w->seq < upto) {
			durable_write(d, w->off, w->len, w->data);
			simbuf_free(w->data);
		} else {
			d->vw[keep++] = *w;
		}
	}
	d->nvw = keep;
}

static void vw_grow(struct simdisk *d)
{
	if (d->nvw == d->capvw) {
		d->capvw = d->capvw ? 2 * d->capvw : 64;
		d->vw = realloc(d->vw, d->capvw * sizeof(*d->vw));
		assert(d->vw);
	}
}

/* A FUA write (the newest volatile one) is durable at once, and alone
 * (a disk honouring FUA per request): the older volatile writes lose
 * the part it covers (their data can never show there again), the rest
 * of them stays volatile. */
static void vw_commit_fua(struct simdisk *d)
{
	struct simdisk_vw f = d->vw[--d->nvw];
	uint64_t fend = f.off + f.len;

	for (size_t i = 0; i < d->nvw; i++) {
		struct simdisk_vw *w = &d->vw[i];
		uint64_t end = w->off + w->len;
		uint8_t *data = w->data;

		if (w->off >= fend || end <= f.off)
			continue;
		if (end > fend) {	/* the part after the FUA write */
			struct simdisk_vw r = *w;

			r.off = fend;
			r.len = (uint32_t)(end - fend);
			r.data = NULL;
			if (data) {
				r.data = simbuf_alloc(r.len);
				memcpy(r.data, data + (fend - w->off), r.len);
			}
			vw_grow(d);
			w = &d->vw[i];
			memmove(&d->vw[i + 2], &d->vw[i + 1],
				(d->nvw - i - 1) * sizeof(*d->vw));
			d->vw[i + 1] = r;
			d->nvw++;
		}
		if (w->off < f.off) {	/* the part before it */
			w->len = (uint32_t)(f.off - w->off);
		} else {		/* nothing before it: gone */
			simbuf_free(w->data);
			memmove(&d->vw[i], &d->vw[i + 1],
				(d->nvw - i - 1) * sizeof(*d->vw));
			d->nvw--;
			i--;
		}
	}
	durable_write(d, f.off, f.len, f.data);
	simbuf_free(f.data);
}

static void vw_add(struct simdisk *d, uint64_t off, uint32_t len,
		   const uint8_t *data)
{
	struct simdisk_vw *w;

	vw_grow(d);
	w = &d->vw[d->nvw++];
	w->off = off;
	w->len = len;
	w->seq = d->next_seq++;
	w->data = NULL;
	if (data) {
		w->data = simbuf_alloc(len);
		memcpy(w->data, data, len);
	}
	if (d->landed)
		d->landed(d->landed_arg, off, len);
}

void simdisk_peek_durable(struct simdisk *d, uint64_t off, uint32_t len,
			  uint8_t *out)
{
	assert(off + len <= d->size);
	memcpy(out, d->map + off, len);
}

void simdisk_peek(struct simdisk *d, uint64_t off, uint32_t len, uint8_t *out)
{
	assert(off + len <= d->size);
	memcpy(out, d->map + off, len);
	for (size_t i = 0; i < d->nvw; i++) {
		const struct simdisk_vw *w = &d->vw[i];
		uint64_t a = off > w->off ? off : w->off;
		uint64_t b = off + len < w->off + w->len ? off + len : w->off + w->len;

		if (a >= b)
			continue;
		if (w->data)
			memcpy(out + (a - off), w->data + (a - w->off), b - a);
		else
			memset(out + (a - off), 0, b - a);
	}
}

static void inflight_del(struct simdisk *d, struct simdisk_req *q)
{
	if (q->prev_inflight)
		q->prev_inflight->next_inflight = q->next_inflight;
	else
		d->inflight = q->next_inflight;
	if (q->next_inflight)
		q->next_inflight->prev_inflight = q->prev_inflight;
	q->next_inflight = q->prev_inflight = NULL;
}

static bool fails(struct simdisk *d, enum simdisk_op op)
{
	uint32_t p = op == SD_READ ? d->k.read_err :
		     op == SD_FLUSH ? d->k.flush_err : d->k.write_err;

	return d->bad || (p && rng_chance(&d->rng, p));
}

static void complete(struct sim_event *ev)
{
	struct simdisk_req *q = (struct simdisk_req *)ev;
	struct simdisk *d = q->d;
	int err = 0;

	inflight_del(d, q);
	if (fails(d, q->op)) {
		d->errors++;
		err = -EIO;
	} else {
		switch (q->op) {
		case SD_READ:
			simdisk_peek(d, q->off, q->len, q->buf);
			d->reads++;
			break;
		case SD_WRITE:
		case SD_ZERO:
			vw_add(d, q->off, q->len, q->op == SD_WRITE ? q->buf : NULL);
			/* FUA makes this write durable, not the others (as on
			 * a disk that honours it per request). */
			if (q->fua)
				vw_commit_fua(d);
			d->writes++;
			break;
		case SD_FLUSH:
			if (!d->k.flush_lies)
				vw_commit(d, q->issue_seq);
			d->flushes++;
			break;
		}
	}
	q->done(q, err);
}

int simdisk_write_now(struct simdisk *d, uint64_t off, uint32_t len,
		      const uint8_t *buf)
{
	assert(off + len <= d->size);
	if (fails(d, SD_WRITE)) {
		d->errors++;
		return -EIO;
	}
	vw_add(d, off, len, buf);
	d->writes++;
	d->writes_now++;
	return 0;
}

int simdisk_flush_now(struct simdisk *d)
{
	if (fails(d, SD_FLUSH)) {
		d->errors++;
		return -EIO;
	}
	if (!d->k.flush_lies)
		vw_commit(d, d->next_seq);	/* every write completed so far */
	d->flushes++;
	d->flushes_now++;
	return 0;
}

void simdisk_submit(struct simdisk *d, struct simdisk_req *q)
{
	uint64_t lat = rng_range(&d->rng, d->k.lat_min_us, d->k.lat_max_us);

	assert(q->op == SD_FLUSH || q->off + q->len <= d->size);
	q->d = d;
	q->issue_seq = d->next_seq;
	q->prev_inflight = NULL;
	q->next_inflight = d->inflight;
	if (d->inflight)
		d->inflight->prev_inflight = q;
	d->inflight = q;
	sched_event_init(&q->ev);
	sched_after(d->sched, &q->ev, lat, complete, q, "disk");
}

/* One volatile write at a crash: gone, or some of its blocks land. */
static void crash_apply(struct simdisk *d, uint64_t off, uint32_t len,
			const uint8_t *data)
{
	if (!rng_chance(&d->rng, d->k.crash_keep)) {
		d->lost_blocks += (len + SD_BLOCK - 1) / SD_BLOCK;
		return;
	}
	for (uint32_t done = 0; done < len;) {
		uint32_t n = len - done < SD_BLOCK ? len - done : SD_BLOCK;

		if (rng_chance(&d->rng, d->k.crash_block_keep))
			durable_write(d, off + done, n, data ? data + done : NULL);
		else
			d->lost_blocks++;
		done += n;
	}
}

void simdisk_process_crash(struct simdisk *d)
{
	while (d->inflight) {
		struct simdisk_req *q = d->inflight;

		sched_cancel(d->sched, &q->ev);
		inflight_del(d, q);
		if (q->op == SD_WRITE || q->op == SD_ZERO)
			vw_add(d, q->off, q->len, q->op == SD_WRITE ? q->buf : NULL);
	}
}

void simdisk_crash_idle(struct simdisk *d)
{
	assert(!d->inflight);
	d->boots++;
	for (size_t i = 0; i < d->nvw; i++)
		d->lost_blocks += (d->vw[i].len + SD_BLOCK - 1) / SD_BLOCK;
	vw_free(d);
}

void simdisk_crash(struct simdisk *d)
{
	d->boots++;
	/* Writes in flight may have reached the media too. */
	while (d->inflight) {
		struct simdisk_req *q = d->inflight;

		sched_cancel(d->sched, &q->ev);
		inflight_del(d, q);
		if (q->op == SD_WRITE || q->op == SD_ZERO)
			vw_add(d, q->off, q->len, q->op == SD_WRITE ? q->buf : NULL);
	}
	for (size_t i = 0; i < d->nvw; i++)
		crash_apply(d, d->vw[i].off, d->vw[i].len, d->vw[i].data);
	vw_free(d);
}
