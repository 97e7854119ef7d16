#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cidr.h"
#include "harness.h"
#include "resolvconf.h"

#define SES	"email-smtp.us-east-1.amazonaws.com"

/* Parse through a guarded copy: the text is not NUL-terminated. */
static void
rc_parse(const char *buf, size_t len, struct resolvconf *rc)
{
	void *g = test_guarded(buf, len);

	memset(rc, 0x5a, sizeof(*rc));
	resolvconf_parse(g, len, rc);
	test_guarded_free(g, len);
}

static size_t
hosts(const char *buf, size_t len, const char *name, struct cidr_addr *out,
    size_t max)
{
	void *g = test_guarded(buf, len);
	size_t n;

	n = hosts_lookup(g, len, name, out, max);
	test_guarded_free(g, len);
	return (n);
}

/* Are the ${n} addresses ${got} exactly the list ${want} (in order)? */
static int
addrs_are(const struct cidr_addr *got, size_t n, const char *const *want)
{
	struct cidr_addr a;
	size_t i;

	for (i = 0; want[i] != NULL; i++) {
		if (i >= n || cidr_addr_parse(want[i], strlen(want[i]), &a) ||
		    !cidr_addr_eq(&got[i], &a))
			return (0);
	}
	return (i == n);
}

static void
print_addrs(const struct cidr_addr *got, size_t n)
{
	char buf[CIDR_ADDRSTRLEN];
	size_t i;

	printf("  got %zu:", n);
	for (i = 0; i < n; i++) {
		cidr_addr_format(&got[i], buf);
		printf(" %s", buf);
	}
	printf("\n");
}

#define L(...)	{ __VA_ARGS__, NULL }

static void
test_resolvconf(void)
{
	static const struct {
		const char *what, *text;
		const char *ns[RESOLVCONF_MAX_NS + 1];
		unsigned timeout, attempts;
	} t[] = {
		{ "empty", "", L("127.0.0.1"), 2, 2 },
		{ "one v4", "nameserver 10.0.0.2\n", L("10.0.0.2"), 2, 2 },
		{ "one v6", "nameserver 2001:db8::53\n", L("2001:db8::53"), 2,
		    2 },
		{ "no final newline", "nameserver 10.0.0.2", L("10.0.0.2"), 2,
		    2 },
		{ "tab separator", "nameserver\t10.0.0.3\n", L("10.0.0.3"), 2,
		    2 },
		{ "several blanks", "nameserver  \t 10.0.0.3\n", L("10.0.0.3"),
		    2, 2 },
		{ "three", "nameserver 10.0.0.1\nnameserver ::1\n"
		    "nameserver 10.0.0.3\n", L("10.0.0.1", "::1", "10.0.0.3"),
		    2, 2 },
		{ "four: first three", "nameserver 10.0.0.1\nnameserver "
		    "10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n",
		    L("10.0.0.1", "10.0.0.2", "10.0.0.3"), 2, 2 },
		{ "invalid ones skipped", "nameserver 300.1.1.1\nnameserver "
		    "foo\nnameserver\nnameserver 10.0.0.1\n", L("10.0.0.1"), 2,
		    2 },
		{ "invalid ones do not count", "nameserver bad1\nnameserver "
		    "bad2\nnameserver bad3\nnameserver 10.0.0.1\nnameserver "
		    "10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n",
		    L("10.0.0.1", "10.0.0.2", "10.0.0.3"), 2, 2 },
		{ "only invalid: default", "nameserver 1.2.3\n",
		    L("127.0.0.1"), 2, 2 },
		{ "v4-mapped", "nameserver ::ffff:10.0.0.9\n", L("10.0.0.9"), 2,
		    2 },
		{ "comments", "# nameserver 1.1.1.1\n; nameserver 2.2.2.2\n"
		    "nameserver 3.3.3.3\n", L("3.3.3.3"), 2, 2 },
		{ "only comments: default", "#nameserver 1.1.1.1\n;nameserver "
		    "2.2.2.2\n", L("127.0.0.1"), 2, 2 },
		{ "keyword glued to address", "nameserver10.0.0.1\n",
		    L("127.0.0.1"), 2, 2 },
		{ "longer keyword", "nameservers 10.0.0.1\n", L("127.0.0.1"),
		    2, 2 },
		{ "other lines ignored", "domain example.com\nsearch a b c\n"
		    "sortlist 10.0.0.0/8\nnameserver 10.0.0.5\nfoo bar\n",
		    L("10.0.0.5"), 2, 2 },
		{ "options timeout attempts", "options timeout:5 attempts:3\n"
		    "nameserver 10.0.0.1\n", L("10.0.0.1"), 5, 3 },
		{ "options among others", "options ndots:5 rotate timeout:7 "
		    "edns0 attempts:4\n", L("127.0.0.1"), 7, 4 },
		{ "options bounds 1", "options timeout:1 attempts:1\n",
		    L("127.0.0.1"), 1, 1 },
		{ "options bounds 30 5", "options timeout:30 attempts:5\n",
		    L("127.0.0.1"), 30, 5 },
		{ "options tab", "options\ttimeout:9\n", L("127.0.0.1"), 9, 2 },
		{ "options without keyword", "timeout:5 attempts:3\n",
		    L("127.0.0.1"), 2, 2 },
		{ "options commented", "# options timeout:5\n", L("127.0.0.1"),
		    2, 2 },
		{ "options not numbers", "options timeout:abc attempts:\n",
		    L("127.0.0.1"), 2, 2 },
		{ "options other names", "options xtimeout:9 attemptsx:4\n",
		    L("127.0.0.1"), 2, 2 },
	};
	struct resolvconf rc;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("resolvconf_parse %s", t[i].what);
		rc_parse(t[i].text, strlen(t[i].text), &rc);
		if (!ASSERT_SIZE_LE(rc.nns, RESOLVCONF_MAX_NS) ||
		    !ASSERT_TRUE(addrs_are(rc.ns, rc.nns, t[i].ns)))
			print_addrs(rc.ns, rc.nns < RESOLVCONF_MAX_NS ?
			    rc.nns : RESOLVCONF_MAX_NS);
		ASSERT_INT_EQ(rc.timeout_s, t[i].timeout);
		ASSERT_INT_EQ(rc.attempts, t[i].attempts);
		TEST_DONE();
	}
}

/*
 * Out-of-range options: resolvconf.h gives the ranges (timeout 1..30,
 * attempts 1..5, default 2) but not whether a value outside is clamped
 * or ignored, so either is accepted; it must end up inside the range.
 */
static void
test_options_range(void)
{
	static const struct {
		const char *text;
		unsigned t_clamp, a_clamp;
	} t[] = {
		{ "options timeout:0 attempts:0\n", 1, 1 },
		{ "options timeout:31 attempts:6\n", 30, 5 },
		{ "options timeout:1000 attempts:1000\n", 30, 5 },
		{ "options timeout:4294967297 attempts:4294967297\n", 30, 5 },
		{ "options timeout:99999999999999999999999 "
		    "attempts:99999999999999999999999\n", 30, 5 },
		{ "options timeout:-1 attempts:-1\n", 1, 1 },
	};
	struct resolvconf rc;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("resolvconf_parse %.40s", t[i].text);
		rc_parse(t[i].text, strlen(t[i].text), &rc);
		if (!ASSERT_TRUE(rc.timeout_s == 2 ||
		    rc.timeout_s == t[i].t_clamp))
			printf("  timeout_s = %u\n", rc.timeout_s);
		if (!ASSERT_TRUE(rc.attempts == 2 ||
		    rc.attempts == t[i].a_clamp))
			printf("  attempts = %u\n", rc.attempts);
		TEST_DONE();
	}
}

static void
test_resolvconf_edges(void)
{
	static const char two[] = "nameserver 10.0.0.1\nnameserver 10.0.0.2\n";
	char big[20000];
	struct resolvconf rc;
	size_t n;

	TEST_START("resolvconf_parse respects len");
	rc_parse(two, 20, &rc);	/* the first line only */
	ASSERT_TRUE(addrs_are(rc.ns, rc.nns, (const char *const[])L(
	    "10.0.0.1")));
	rc_parse(two, 18, &rc);	/* "nameserver 10.0.0." */
	ASSERT_TRUE(addrs_are(rc.ns, rc.nns, (const char *const[])L(
	    "127.0.0.1")));
	TEST_DONE();

	TEST_START("resolvconf_parse long line then nameserver");
	memset(big, 'x', sizeof(big));
	big[0] = '#';
	n = sizeof(big) - 40;
	big[n++] = '\n';
	memcpy(big + n, "nameserver 10.0.0.7\n", 20);
	n += 20;
	rc_parse(big, n, &rc);
	ASSERT_TRUE(addrs_are(rc.ns, rc.nns, (const char *const[])L(
	    "10.0.0.7")));
	TEST_DONE();

	TEST_START("resolvconf_parse NUL bytes and junk do not crash");
	rc_parse("nameserver 10.0.0.1\0junk\nnameserver 10.0.0.2\n", 45, &rc);
	ASSERT_SIZE_LE(rc.nns, RESOLVCONF_MAX_NS);
	ASSERT_SIZE_GT(rc.nns, 0);
	memset(big, '\n', 4096);
	rc_parse(big, 4096, &rc);
	ASSERT_TRUE(addrs_are(rc.ns, rc.nns, (const char *const[])L(
	    "127.0.0.1")));
	TEST_DONE();
}

static const char hosts_txt[] =
    "# comment 10.9.9.9 " SES "\n"
    "127.0.0.1\tlocalhost\n"
    "::1 localhost ip6-localhost\n"
    "10.0.0.1 " SES " ses\n"
    "10.0.0.2 other.example EMAIL-SMTP.US-EAST-1.AMAZONAWS.COM # alias\n"
    "10.0.0.3 " SES ".evil\n"
    "10.0.0.4 x" SES "\n"
    "10.0.0.5 email-smtp.us-east-1.amazonaws.co\n"
    "10.0.0.6 # " SES "\n"
    "2001:db8::5 " SES "\n"
    "999.0.0.1 " SES "\n"
    "10.0.0 " SES "\n"
    "10.0.0.7\t" SES "\t\n"
    "10.0.0.8\n"
    "10.0.0.9 evil." SES "\n"
    "10.0.0.12 dup.example DUP.example dup.example.\n"
    "10.0.0.10 " SES;		/* last line, no newline */

static void
test_hosts(void)
{
	static const struct {
		const char *name;
		size_t	max;
		const char *want[12];
	} t[] = {
		{ SES, 16, L("10.0.0.1", "10.0.0.2", "2001:db8::5", "10.0.0.7",
		    "10.0.0.10") },
		{ "Email-SMTP.us-east-1.AmazonAWS.com", 16, L("10.0.0.1",
		    "10.0.0.2", "2001:db8::5", "10.0.0.7", "10.0.0.10") },
		{ SES, 2, L("10.0.0.1", "10.0.0.2") },
		{ SES, 1, L("10.0.0.1") },
		{ "ses", 16, L("10.0.0.1") },
		{ "SES", 16, L("10.0.0.1") },
		{ "localhost", 16, L("127.0.0.1", "::1") },
		{ "ip6-localhost", 16, L("::1") },
		{ "other.example", 16, L("10.0.0.2") },
		{ "dup.example", 16, L("10.0.0.12") },
		{ SES ".evil", 16, L("10.0.0.3") },
		{ "alias", 16, { NULL } },		/* in a comment */
		{ "comment", 16, { NULL } },
		{ "evil", 16, { NULL } },
		{ "email-smtp", 16, { NULL } },
		{ "amazonaws.com", 16, { NULL } },
		{ "us-east-1", 16, { NULL } },
		{ "10.0.0.1", 16, { NULL } },
		{ "10.0.0.8", 16, { NULL } },
		{ "#", 16, { NULL } },
		{ "", 16, { NULL } },
		{ "nonexistent.example", 16, { NULL } },
	};
	struct cidr_addr out[HOSTS_MAX_ADDRS + 4];
	size_t i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("hosts_lookup \"%s\" max %zu", t[i].name, t[i].max);
		n = hosts(hosts_txt, sizeof(hosts_txt) - 1, t[i].name, out,
		    t[i].max);
		if (!ASSERT_SIZE_LE(n, t[i].max) ||
		    !ASSERT_TRUE(addrs_are(out, n, t[i].want)))
			print_addrs(out, n < t[i].max ? n : t[i].max);
		TEST_DONE();
	}

	TEST_START("hosts_lookup max 0 writes nothing");
	memset(out, 0x5a, sizeof(out));
	ASSERT_SIZE_EQ(hosts(hosts_txt, sizeof(hosts_txt) - 1, SES, out, 0),
	    0);
	ASSERT_INT_EQ(((unsigned char *)out)[0], 0x5a);
	TEST_DONE();

	TEST_START("hosts_lookup never writes past max");
	memset(out, 0x5a, sizeof(out));
	ASSERT_SIZE_EQ(hosts(hosts_txt, sizeof(hosts_txt) - 1, SES, out, 3),
	    3);
	ASSERT_INT_EQ(((unsigned char *)&out[3])[0], 0x5a);
	ASSERT_INT_EQ(((unsigned char *)&out[4])[sizeof(out[4]) - 1], 0x5a);
	TEST_DONE();

	TEST_START("hosts_lookup respects len");
	/* Cut inside the last line's name: "...amazonaws.c". */
	n = hosts(hosts_txt, sizeof(hosts_txt) - 3, SES, out, 16);
	ASSERT_TRUE(addrs_are(out, n, (const char *const[])L("10.0.0.1",
	    "10.0.0.2", "2001:db8::5", "10.0.0.7")));
	n = hosts(hosts_txt, 0, SES, out, 16);
	ASSERT_SIZE_EQ(n, 0);
	TEST_DONE();

	TEST_START("hosts_lookup many lines: HOSTS_MAX_ADDRS kept");
	{
		char buf[4096];
		size_t len = 0;
		int k;
		for (k = 0; k < HOSTS_MAX_ADDRS + 4; k++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
			    "10.1.0.%d " SES "\n", k);
		n = hosts(buf, len, SES, out, HOSTS_MAX_ADDRS);
		ASSERT_SIZE_EQ(n, HOSTS_MAX_ADDRS);
		if (n == HOSTS_MAX_ADDRS) {
			struct cidr_addr a;
			cidr_addr_parse("10.1.0.15", 9, &a);
			ASSERT_TRUE(cidr_addr_eq(&out[15], &a));
		}
	}
	TEST_DONE();

	TEST_START("hosts_lookup CRLF-free junk does not crash");
	{
		static const char junk[] = "\0\0\n\t\t\n#\n 10.0.0.1\n10.0.0.1"
		    "\n::::\n" SES "\n" SES " 10.0.0.1\n";
		n = hosts(junk, sizeof(junk) - 1, SES, out, 16);
		ASSERT_SIZE_LE(n, 16);
	}
	TEST_DONE();
}

static void
test_read(void)
{
	char path[] = "/tmp/test_resolvconf.XXXXXX";
	char buf[64];
	long r;
	int fd;

	TEST_START("resolvconf_read missing file");
	errno = 0;
	ASSERT_INT_EQ(resolvconf_read("/nonexistent/resolv.conf", buf,
	    sizeof(buf)), -1);
	ASSERT_INT_EQ(errno, ENOENT);
	TEST_DONE();

	TEST_START("resolvconf_read directory");
	ASSERT_INT_EQ(resolvconf_read("/tmp", buf, sizeof(buf)), -1);
	TEST_DONE();

	TEST_START("resolvconf_read a device: only regular files are read");
	errno = 0;
	ASSERT_INT_EQ(resolvconf_read("/dev/zero", buf, sizeof(buf)), -1);
	ASSERT_INT_EQ(errno, EINVAL);
	TEST_DONE();

	if ((fd = mkstemp(path)) < 0) {
		perror("mkstemp");
		exit(2);
	}
	if (write(fd, "nameserver 10.0.0.1\n", 20) != 20) {
		perror("write");
		exit(2);
	}
	close(fd);

	TEST_START("resolvconf_read whole file");
	memset(buf, '#', sizeof(buf));
	r = resolvconf_read(path, buf, sizeof(buf));
	ASSERT_INT_EQ(r, 20);
	ASSERT_STR_EQ(buf, "nameserver 10.0.0.1\n");
	TEST_DONE();

	TEST_START("resolvconf_read cap smaller than the file");
	memset(buf, '#', sizeof(buf));
	r = resolvconf_read(path, buf, 11);
	ASSERT_INT_EQ(r, 10);
	ASSERT_STR_EQ(buf, "nameserver");
	ASSERT_INT_EQ(buf[11], '#');
	r = resolvconf_read(path, buf, 1);
	ASSERT_INT_EQ(r, 0);
	ASSERT_INT_EQ(buf[0], '\0');
	TEST_DONE();

	TEST_START("resolvconf_read cap 0 writes nothing");
	memset(buf, '#', sizeof(buf));
	r = resolvconf_read(path, buf, 0);
	ASSERT_INT_EQ(r, -1);
	ASSERT_INT_EQ(buf[0], '#');
	TEST_DONE();

	TEST_START("resolvconf_read cap exactly file + 1");
	memset(buf, '#', sizeof(buf));
	r = resolvconf_read(path, buf, 21);
	ASSERT_INT_EQ(r, 20);
	ASSERT_STR_EQ(buf, "nameserver 10.0.0.1\n");
	ASSERT_INT_EQ(buf[21], '#');
	TEST_DONE();

	unlink(path);
}

int
main(void)
{

	test_resolvconf();
	test_options_range();
	test_resolvconf_edges();
	test_hosts();
	test_read();
	return (test_summary());
}
