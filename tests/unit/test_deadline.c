/*
 * The deadline heap (deadline.c): insert, remove from anywhere, re-key in
 * either direction, and the order of the minimum under many random
 * operations checked against a plain array.
 */
#include <stdint.h>
#include <stdlib.h>

#include "deadline.h"
#include "harness.h"
#include "loop.h"

#define N	64		/* entries of the random test */
#define OPS	20000

struct item {
	int	in;		/* in the heap, by the model's account */
	struct deadline d;
};

/*
 * Is ${h} a heap whose entries know their places?  Checks every parent
 * against its children and every entry's idx.
 */
static int
heap_valid(const struct deadline_heap *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		if (!ASSERT_SIZE_EQ(h->v[i]->idx, i))
			return (0);
		if (i > 0 && !ASSERT_SIZE_LE(h->v[(i - 1) / 2]->at, h->v[i]->at))
			return (0);
	}
	return (1);
}

/* Take the minimum out of ${h} ${n} times; the keys must not go down. */
static void
drain_in_order(struct deadline_heap *h, size_t n)
{
	struct deadline *d;
	uint64_t last = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!ASSERT_PTR_NONNULL(d = deadline_min(h)))
			return;
		ASSERT_SIZE_LE(last, d->at);
		last = d->at;
		deadline_remove(h, d);
		if (!heap_valid(h))
			return;
	}
	ASSERT_PTR_NULL(deadline_min(h));
}

static void
test_basic(void)
{
	static const uint64_t keys[] = { 50, 10, 40, 30, 20, 60, 5 };
	struct item it[7];
	struct deadline_heap h;
	size_t i;

	TEST_START("deadline insert, capacity, order");
	if (!ASSERT_INT_EQ(deadline_heap_init(&h, 7), 0))
		return;
	ASSERT_PTR_NULL(deadline_min(&h));
	for (i = 0; i < 7; i++)
		ASSERT_INT_EQ(deadline_insert(&h, &it[i].d, keys[i]), 0);
	heap_valid(&h);
	ASSERT_INT_EQ(deadline_insert(&h, &it[0].d, 1), -1);	/* full */
	ASSERT_PTR_EQ(deadline_min(&h), &it[6].d);
	ASSERT_PTR_EQ(CONTAINER_OF(deadline_min(&h), struct item, d), &it[6]);
	drain_in_order(&h, 7);
	deadline_heap_free(&h);
	TEST_DONE();

	TEST_START("deadline remove from the middle, update both ways");
	if (!ASSERT_INT_EQ(deadline_heap_init(&h, 7), 0))
		return;
	for (i = 0; i < 7; i++)
		(void)deadline_insert(&h, &it[i].d, keys[i]);
	/* 40 sits below the root, above a leaf; 30 is a leaf. */
	deadline_remove(&h, &it[2].d);
	heap_valid(&h);
	deadline_remove(&h, &it[3].d);
	heap_valid(&h);
	ASSERT_SIZE_EQ(h.n, 5);
	deadline_update(&h, &it[5].d, 1);		/* 60 -> 1: to the top */
	heap_valid(&h);
	ASSERT_PTR_EQ(deadline_min(&h), &it[5].d);
	deadline_update(&h, &it[5].d, 100);		/* and to the bottom */
	heap_valid(&h);
	ASSERT_PTR_EQ(deadline_min(&h), &it[6].d);
	deadline_update(&h, &it[6].d, 15);		/* the root, later */
	heap_valid(&h);
	ASSERT_PTR_EQ(deadline_min(&h), &it[1].d);
	deadline_remove(&h, &it[1].d);			/* the root itself */
	heap_valid(&h);
	ASSERT_PTR_EQ(deadline_min(&h), &it[6].d);
	drain_in_order(&h, 4);
	deadline_heap_free(&h);
	TEST_DONE();
}

/* xorshift64: a fixed sequence, so that a failure can be replayed. */
static uint64_t
next_rand(uint64_t *s)
{

	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s);
}

static void
test_random(void)
{
	struct item it[N];
	struct deadline_heap h;
	uint64_t seed = 0x9e3779b97f4a7c15ull, min;
	size_t i, k, n = 0;
	int op;

	TEST_START("deadline %d random operations against a model", OPS);
	if (!ASSERT_INT_EQ(deadline_heap_init(&h, N), 0))
		return;
	for (i = 0; i < N; i++)
		it[i].in = 0;
	for (k = 0; k < OPS; k++) {
		i = next_rand(&seed) % N;
		op = (int)(next_rand(&seed) % 3);
		/* Few distinct keys: ties are common. */
		min = next_rand(&seed) % 200;
		if (!it[i].in) {
			if (!ASSERT_INT_EQ(deadline_insert(&h, &it[i].d, min),
			    0))
				break;
			it[i].in = 1;
			n++;
		} else if (op == 0) {
			deadline_remove(&h, &it[i].d);
			it[i].in = 0;
			n--;
		} else {
			deadline_update(&h, &it[i].d, min);
		}
		if (!ASSERT_SIZE_EQ(h.n, n) || !heap_valid(&h))
			break;
		/* The minimum is the model's smallest key. */
		min = UINT64_MAX;
		for (i = 0; i < N; i++)
			if (it[i].in && it[i].d.at < min)
				min = it[i].d.at;
		if (n > 0 && (!ASSERT_PTR_NONNULL(deadline_min(&h)) ||
		    !ASSERT_U64_EQ(deadline_min(&h)->at, min)))
			break;
	}
	drain_in_order(&h, n);
	deadline_heap_free(&h);
	TEST_DONE();
}

int
main(void)
{

	test_basic();
	test_random();
	return (test_summary());
}
