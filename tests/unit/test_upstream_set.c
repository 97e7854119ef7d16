/*
 * The validated SES address set (upstream_set.c) with a clock of the
 * test's own: adoption of allowed and denied addresses, each denial
 * logged once, the keep when an answer is all denied, the expiry
 * UPSTREAM_STALE_MAX after the last good answer (to the millisecond), and
 * the /etc/hosts set that never expires.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allowlist.h"
#include "cidr.h"
#include "harness.h"
#include "log.h"
#include "upstream.h"
#include "upstream_set.h"

#define T0	1000000ull		/* any start: a monotonic clock */
#define KEEP_MS	(UPSTREAM_STALE_MAX * 1000ull)

static struct cidrset allow;
static char logged[65536];		/* the log lines of one step */
static int saved_fd = -1, cap[2];

/* Send the log lines (fd 2) to a pipe until capture_end. */
static void
capture_begin(void)
{

	if (pipe2(cap, O_NONBLOCK) != 0 || (saved_fd = dup(2)) < 0 ||
	    dup2(cap[1], 2) < 0) {
		perror("capture_begin");
		exit(2);
	}
}

/* Restore fd 2; the captured lines are in ${logged}. */
static void
capture_end(void)
{
	ssize_t n;

	dup2(saved_fd, 2);
	close(saved_fd);
	close(cap[1]);
	n = read(cap[0], logged, sizeof(logged) - 1);
	logged[n > 0 ? n : 0] = '\0';
	close(cap[0]);
}

/* How many lines of event ${ev} were logged. */
static int
events(const char *ev)
{
	char key[64];
	const char *p = logged;
	int n = 0;

	snprintf(key, sizeof(key), "\"event\":\"%s\"", ev);
	while ((p = strstr(p, key)) != NULL) {
		n++;
		p++;
	}
	return (n);
}

static struct cidr_addr
addr(const char *s)
{
	struct cidr_addr a;

	if (cidr_addr_parse(s, strlen(s), &a) != 0) {
		fprintf(stderr, "bad test address %s\n", s);
		exit(2);
	}
	return (a);
}

/* Adopt the addresses named in ${list} (NULL-terminated) at ${now}. */
static void
adopt(struct upstream_set *s, const char *const *list, uint64_t now)
{
	struct cidr_addr a[UPSTREAM_MAX_ADDRS];
	size_t n;

	for (n = 0; list[n] != NULL; n++)
		a[n] = addr(list[n]);
	capture_begin();
	upstream_set_adopt(s, a, n, "dns", 60, now);
	capture_end();
}

/* upstream_set_count at ${now}, its log lines captured. */
static size_t
count(struct upstream_set *s, uint64_t now)
{
	size_t n;

	capture_begin();
	n = upstream_set_count(s, now);
	capture_end();
	return (n);
}

static const char *const mixed[] = { "52.1.1.1", "10.0.0.1", "52.2.2.2",
    NULL };
static const char *const denied[] = { "10.0.0.2", NULL };
static const char *const other[] = { "52.3.3.3", NULL };

static void
test_adopt(void)
{
	struct upstream_set s;
	struct cidr_addr a;

	TEST_START("upstream_set an answer: allowed adopted, denied not");
	upstream_set_init(&s, "email-smtp.test", &allow, 0);
	ASSERT_SIZE_EQ(upstream_set_count(&s, T0), 0);
	adopt(&s, mixed, T0);
	ASSERT_INT_EQ(events("upstream_resolved"), 1);
	ASSERT_INT_EQ(events("upstream_denied"), 1);
	ASSERT_TRUE(strstr(logged, "10.0.0.1") != NULL);
	ASSERT_SIZE_EQ(count(&s, T0), 2);
	ASSERT_SIZE_EQ(s.nres, 3);
	ASSERT_PTR_NONNULL(s.res[0].match);
	ASSERT_PTR_NULL(s.res[1].match);
	ASSERT_PTR_NONNULL(s.res[2].match);
	ASSERT_INT_EQ(upstream_set_pick(&s, 1, T0, &a), 0);
	ASSERT_TRUE(cidr_addr_eq(&a, &s.res[2].addr));
	ASSERT_INT_EQ(upstream_set_pick(&s, 2, T0, &a), 0);
	ASSERT_TRUE(cidr_addr_eq(&a, &s.res[0].addr));
	TEST_DONE();

	TEST_START("upstream_set the same answer again: nothing logged");
	adopt(&s, mixed, T0 + 1000);
	ASSERT_INT_EQ(events("upstream_resolved"), 0);
	ASSERT_INT_EQ(events("upstream_denied"), 0);
	ASSERT_SIZE_EQ(count(&s, T0 + 1000), 2);
	TEST_DONE();

	TEST_START("upstream_set a new set replaces the old");
	adopt(&s, other, T0 + 2000);
	ASSERT_INT_EQ(events("upstream_resolved"), 1);
	ASSERT_SIZE_EQ(count(&s, T0 + 2000), 1);
	ASSERT_INT_EQ(upstream_set_pick(&s, 7, T0 + 2000, &a), 0);
	ASSERT_TRUE(cidr_addr_eq(&a, &s.res[0].addr));
	TEST_DONE();
}

static void
test_all_denied(void)
{
	struct upstream_set s;

	TEST_START("upstream_set a first answer all denied: an error, none");
	upstream_set_init(&s, "email-smtp.test", &allow, 0);
	adopt(&s, denied, T0);
	ASSERT_INT_EQ(events("upstream_all_denied"), 1);
	ASSERT_TRUE(strstr(logged, "\"level\":\"error\"") != NULL);
	ASSERT_SIZE_EQ(count(&s, T0), 0);
	TEST_DONE();

	TEST_START("upstream_set all denied later: the last set kept");
	adopt(&s, mixed, T0);
	adopt(&s, denied, T0 + 5000);
	ASSERT_INT_EQ(events("upstream_all_denied"), 1);
	ASSERT_TRUE(strstr(logged, "\"level\":\"warn\"") != NULL);
	ASSERT_TRUE(strstr(logged, "\"kept\":2") != NULL);
	ASSERT_SIZE_EQ(count(&s, T0 + 5000), 2);
	/* The last answer is the denied one; the set is the old one. */
	ASSERT_SIZE_EQ(s.nres, 1);
	ASSERT_PTR_NULL(s.res[0].match);
	TEST_DONE();
}

/*
 * Endpoint-only mode: the set holds the --vpc-endpoint-cidrs prefixes and
 * nothing else, so a public AMAZON address in the same answer is denied,
 * and the denial names the endpoint's prefixes.
 */
static void
test_endpoint_only(void)
{
	static const char *const answer[] = { "10.0.0.5", "52.1.1.1",
	    "10.0.1.5", NULL };
	struct cidrset vpce = { NULL, 0, 0 };
	struct upstream_set s;
	struct cidr_addr a;
	struct cidr c;
	size_t k;

	TEST_START("upstream_set endpoint-only: only the endpoint's subnet");
	if (!ASSERT_INT_EQ(cidr_parse("10.0.0.0/24", 11, &c), 0))
		return;
	c.tag = ALLOWLIST_TAG_VPCE;
	if (!ASSERT_INT_EQ(cidrset_add(&vpce, &c), 0))
		return;
	cidrset_finish(&vpce);
	ASSERT_TRUE(allowlist_endpoint_only(&vpce));
	ASSERT_FALSE(allowlist_endpoint_only(&allow));
	ASSERT_STR_EQ(allowlist_scope(&vpce), "--vpc-endpoint-cidrs");
	upstream_set_init(&s, "email-smtp.test", &vpce, 0);
	adopt(&s, answer, T0);
	ASSERT_INT_EQ(events("upstream_denied"), 2);
	ASSERT_TRUE(strstr(logged, "outside --vpc-endpoint-cidrs") != NULL);
	ASSERT_TRUE(strstr(logged, "AMAZON") == NULL);
	ASSERT_SIZE_EQ(count(&s, T0), 1);
	ASSERT_PTR_NONNULL(s.res[0].match);
	ASSERT_PTR_NULL(s.res[1].match);
	ASSERT_PTR_NULL(s.res[2].match);
	for (k = 0; k < 3; k++) {
		ASSERT_INT_EQ(upstream_set_pick(&s, k, T0, &a), 0);
		ASSERT_TRUE(cidr_addr_eq(&a, &s.res[0].addr));
	}
	TEST_DONE();
	cidrset_free(&vpce);
}

static void
test_expiry(void)
{
	struct upstream_set s;
	struct cidr_addr a;

	TEST_START("upstream_set kept to the millisecond, then forgotten");
	upstream_set_init(&s, "email-smtp.test", &allow, 0);
	adopt(&s, mixed, T0);
	/* Denied answers do not refresh the keep. */
	adopt(&s, denied, T0 + KEEP_MS / 2);
	adopt(&s, denied, T0 + KEEP_MS);
	ASSERT_SIZE_EQ(count(&s, T0 + KEEP_MS), 2);
	ASSERT_INT_EQ(events("upstream_expired"), 0);
	ASSERT_SIZE_EQ(count(&s, T0 + KEEP_MS + 1), 0);
	ASSERT_INT_EQ(events("upstream_expired"), 1);
	ASSERT_INT_EQ(upstream_set_pick(&s, 0, T0 + KEEP_MS + 1, &a), -1);
	TEST_DONE();

	TEST_START("upstream_set an all-denied answer after the keep: "
	    "nothing kept");
	upstream_set_init(&s, "email-smtp.test", &allow, 0);
	adopt(&s, mixed, T0);
	adopt(&s, denied, T0 + KEEP_MS + 1);
	ASSERT_INT_EQ(events("upstream_expired"), 1);
	ASSERT_TRUE(strstr(logged, "\"kept\":0") != NULL);
	ASSERT_SIZE_EQ(count(&s, T0 + KEEP_MS + 1), 0);
	TEST_DONE();

	TEST_START("upstream_set a good answer restarts the keep");
	upstream_set_init(&s, "email-smtp.test", &allow, 0);
	adopt(&s, mixed, T0);
	adopt(&s, mixed, T0 + KEEP_MS - 1);
	ASSERT_SIZE_EQ(count(&s, T0 + KEEP_MS + 1), 2);
	ASSERT_SIZE_EQ(count(&s, T0 + 2 * KEEP_MS - 1), 2);
	ASSERT_SIZE_EQ(count(&s, T0 + 2 * KEEP_MS), 0);
	TEST_DONE();

	TEST_START("upstream_set the /etc/hosts set never expires");
	upstream_set_init(&s, "email-smtp.test", &allow, 1);
	adopt(&s, mixed, T0);
	ASSERT_SIZE_EQ(count(&s, T0 + 10 * KEEP_MS), 2);
	ASSERT_INT_EQ(events("upstream_expired"), 0);
	TEST_DONE();
}

int
main(void)
{
	struct cidr c;

	log_init(1);
	if (cidr_parse("52.0.0.0/8", 10, &c) != 0 ||
	    cidrset_add(&allow, &c) != 0) {
		fprintf(stderr, "test allowlist\n");
		return (2);
	}
	cidrset_finish(&allow);
	test_adopt();
	test_all_denied();
	test_endpoint_only();
	test_expiry();
	cidrset_free(&allow);
	return (test_summary());
}
