#ifndef HARNESS_H_
#define HARNESS_H_

#include <stddef.h>

/*
 * A tiny unit-test harness in the style of OpenSSH's test_helper.  A failed
 * assertion prints file:line, the test name, both expressions and both
 * values, counts the failure and lets the test go on; every ASSERT_* is an
 * expression that is 1 when it held, so a test can skip what would crash:
 *	if (!ASSERT_PTR_NE(p, NULL)) return;
 * main() ends with "return (test_summary());".
 */

#define TEST_START(...)		test_start(__VA_ARGS__)
#define TEST_DONE()		test_done()

#define ASSERT_INT_(a, b, op) test_int(__FILE__, __LINE__, #a, #b, op, \
	(long long)(a), (long long)(b))
#define ASSERT_INT_EQ(a, b)	ASSERT_INT_(a, b, "==")
#define ASSERT_INT_NE(a, b)	ASSERT_INT_(a, b, "!=")
#define ASSERT_INT_LT(a, b)	ASSERT_INT_(a, b, "<")
#define ASSERT_INT_LE(a, b)	ASSERT_INT_(a, b, "<=")
#define ASSERT_INT_GT(a, b)	ASSERT_INT_(a, b, ">")
#define ASSERT_INT_GE(a, b)	ASSERT_INT_(a, b, ">=")
#define ASSERT_SIZE_(a, b, op) test_size(__FILE__, __LINE__, #a, #b, op, \
	(unsigned long long)(a), (unsigned long long)(b))
#define ASSERT_SIZE_EQ(a, b)	ASSERT_SIZE_(a, b, "==")
#define ASSERT_SIZE_LE(a, b)	ASSERT_SIZE_(a, b, "<=")
#define ASSERT_SIZE_GT(a, b)	ASSERT_SIZE_(a, b, ">")
#define ASSERT_U64_EQ(a, b)	ASSERT_SIZE_(a, b, "==")
#define ASSERT_STR_EQ(a, b)	test_str(__FILE__, __LINE__, #a, #b, 1, a, b)
#define ASSERT_STR_NE(a, b)	test_str(__FILE__, __LINE__, #a, #b, 0, a, b)
#define ASSERT_MEM_EQ(a, b, n)	test_mem(__FILE__, __LINE__, #a, #b, a, b, n)
#define ASSERT_PTR_(a, b, eq)	test_ptr(__FILE__, __LINE__, #a, #b, eq, \
	(const void *)(a), (const void *)(b))
#define ASSERT_PTR_EQ(a, b)	ASSERT_PTR_(a, b, 1)
#define ASSERT_PTR_NE(a, b)	ASSERT_PTR_(a, b, 0)
#define ASSERT_PTR_NULL(a)	ASSERT_PTR_(a, NULL, 1)
#define ASSERT_PTR_NONNULL(a)	ASSERT_PTR_(a, NULL, 0)
#define ASSERT_TRUE(a)		ASSERT_INT_((a) != 0, 1, "==")
#define ASSERT_FALSE(a)		ASSERT_INT_((a) != 0, 0, "==")

void test_start(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void test_done(void);
int test_summary(void);
int test_int(const char *file, int line, const char *ea, const char *eb,
    const char *op, long long a, long long b);
int test_size(const char *file, int line, const char *ea, const char *eb,
    const char *op, unsigned long long a, unsigned long long b);
int test_str(const char *file, int line, const char *ea, const char *eb,
    int eq, const char *a, const char *b);
int test_mem(const char *file, int line, const char *ea, const char *eb,
    const void *a, const void *b, size_t n);
int test_ptr(const char *file, int line, const char *ea, const char *eb,
    int eq, const void *a, const void *b);

/*
 * test_guarded(src, len): a copy of ${len} bytes of ${src} that ends exactly
 * at an unmapped page, so that reading one byte past it crashes the test.
 * test_guarded_free(p, len) releases it.
 */
void *test_guarded(const void *src, size_t len);
void test_guarded_free(void *p, size_t len);

#endif /* !HARNESS_H_ */
