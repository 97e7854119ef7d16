/*
 * The deadline heap (deadline.h): a binary min-heap whose entries record
 * their own index, so that any entry can be re-keyed or removed.
 */
#include <errno.h>
#include <stdlib.h>

#include "deadline.h"

int
deadline_heap_init(struct deadline_heap *h, size_t cap)
{

	h->n = 0;
	h->cap = cap;
	if ((h->v = calloc(cap > 0 ? cap : 1, sizeof(struct deadline *))) ==
	    NULL)
		return (-1);
	return (0);
}

void
deadline_heap_free(struct deadline_heap *h)
{

	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

static void
swap(struct deadline_heap *h, size_t i, size_t j)
{
	struct deadline *t = h->v[i];

	h->v[i] = h->v[j];
	h->v[j] = t;
	h->v[i]->idx = i;
	h->v[j]->idx = j;
}

static void
sift_up(struct deadline_heap *h, size_t i)
{

	while (i > 0 && h->v[(i - 1) / 2]->at > h->v[i]->at) {
		swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
sift_down(struct deadline_heap *h, size_t i)
{
	size_t l, m;

	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < h->n && h->v[l]->at < h->v[m]->at)
			m = l;
		if (l + 1 < h->n && h->v[l + 1]->at < h->v[m]->at)
			m = l + 1;
		if (m == i)
			return;
		swap(h, i, m);
		i = m;
	}
}

int
deadline_insert(struct deadline_heap *h, struct deadline *d, uint64_t at)
{

	if (h->n == h->cap) {
		errno = ENOSPC;
		return (-1);
	}
	d->at = at;
	d->idx = h->n;
	h->v[h->n++] = d;
	sift_up(h, d->idx);
	return (0);
}

void
deadline_update(struct deadline_heap *h, struct deadline *d, uint64_t at)
{

	/* The key may move either way. */
	d->at = at;
	sift_up(h, d->idx);
	sift_down(h, d->idx);
}

void
deadline_remove(struct deadline_heap *h, struct deadline *d)
{
	size_t i = d->idx;

	swap(h, i, --h->n);
	if (i < h->n) {
		sift_up(h, i);
		sift_down(h, i);
	}
}

struct deadline *
deadline_min(const struct deadline_heap *h)
{

	return (h->n > 0 ? h->v[0] : NULL);
}
