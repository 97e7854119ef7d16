#ifndef DEADLINE_H_
#define DEADLINE_H_

#include <stddef.h>
#include <stdint.h>

/*
 * A binary min-heap of deadlines: the relay's sessions, keyed on when each
 * one must next be looked at.  Each entry is embedded in its owner (find
 * the owner with CONTAINER_OF) and knows its place in the heap, so that it
 * can be re-keyed or removed in O(log n).  The capacity is fixed when the
 * heap is made: nothing is allocated afterwards.
 */

struct deadline {
	uint64_t at;		/* the key: loop_now() milliseconds */
	size_t	idx;		/* position in the heap, while in it */
};

struct deadline_heap {
	struct deadline **v;
	size_t	n, cap;
};

/**
 * deadline_heap_init(h, cap): an empty heap for at most ${cap} entries.
 * Returns 0, or -1 if the memory cannot be had (errno set).
 */
int deadline_heap_init(struct deadline_heap *h, size_t cap);

/** deadline_heap_free(h): release ${h}'s memory; its entries stay theirs. */
void deadline_heap_free(struct deadline_heap *h);

/**
 * deadline_insert(h, d, at): add ${d}, keyed ${at}.  Returns 0, or -1 if
 * ${h} is full.
 */
int deadline_insert(struct deadline_heap *h, struct deadline *d,
    uint64_t at);

/** deadline_update(h, d, at): re-key ${d} (which is in ${h}) to ${at}. */
void deadline_update(struct deadline_heap *h, struct deadline *d,
    uint64_t at);

/** deadline_remove(h, d): take ${d}, which is in ${h}, out of it. */
void deadline_remove(struct deadline_heap *h, struct deadline *d);

/** deadline_min(h): the entry with the earliest key, or NULL if none. */
struct deadline *deadline_min(const struct deadline_heap *h);

#endif /* !DEADLINE_H_ */
