#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"

/* ---- log_quote ---- */

static void
test_quote(void)
{
	static const struct {
		const char *in;
		size_t	cap;
		const char *want;
	} t[] = {
		{ "/etc/ses-smtp-proxy/ip-ranges.json", 64,
		    "/etc/ses-smtp-proxy/ip-ranges.json" },
		{ "us-east-1", 64, "us-east-1" },
		{ "", 64, "\"\"" },
		{ "a b", 64, "\"a b\"" },
		{ "a=b", 64, "\"a=b\"" },
		{ "a\nresult usable=9", 64, "\"a\\nresult usable=9\"" },
		{ "x\"y", 64, "\"x\\\"y\"" },
		{ "\\", 64, "\"\\\\\"" },
		{ "\x01", 64, "\"\\u0001\"" },
		{ "a b=c/d:e", 64, "\"a b=c/d:e\"" },
		{ "\\\"", 64, "\"\\\\\\\"\"" },
		{ "a\rb", 64, "\"a\\u000db\"" },
		{ "a\tb", 64, "\"a\\u0009b\"" },
		{ "\x1b[31m", 64, "\"\\u001b[31m\"" },
		{ "\x1f", 64, "\"\\u001f\"" },
		{ "\x7f", 64, "\"\\u007f\"" },
		{ "\x80", 64, "\"\\u0080\"" },
		{ "\xff", 64, "\"\\u00ff\"" },
		{ "\xc3\xa9", 64, "\"\\u00c3\\u00a9\"" },
		{ " ~", 64, "\" ~\"" },
		/* Cut: unquoted at cap - 1, quoted before an escape. */
		{ "abcdef", 4, "abc" },
		{ "a bcdef", 6, "\"a b\"" },
		{ "a\n", 4, "\"a\"" },
		{ "ab\x01", 8, "\"ab\"" },
		{ "\x01", 3, "\"\"" },
	};
	char buf[80];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("log_quote test %zu cap %zu", i, t[i].cap);
		memset(buf, '#', sizeof(buf));
		ASSERT_PTR_EQ(log_quote(buf, t[i].cap, t[i].in), buf);
		ASSERT_STR_EQ(buf, t[i].want);
		/* Nothing written at or after cap. */
		ASSERT_INT_EQ(buf[t[i].cap], '#');
		TEST_DONE();
	}
}

/* ---- capturing fd 2 ---- */

/*
 * fd 2 becomes one end of a SOCK_SEQPACKET pair, which keeps the
 * boundaries of every write(2): cap_end() reports how many writes there
 * were, and their bytes concatenated.
 */
static int cap_sv[2] = { -1, -1 }, cap_saved = -1;

static void
cap_begin(void)
{

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, cap_sv) != 0 ||
	    (cap_saved = dup(2)) < 0 || dup2(cap_sv[0], 2) < 0) {
		perror("cap_begin");
		exit(2);
	}
}

static int
cap_end(char *buf, size_t cap, size_t *len)
{
	ssize_t r;
	int writes = 0;

	dup2(cap_saved, 2);
	close(cap_saved);
	close(cap_sv[0]);
	*len = 0;
	while ((r = recv(cap_sv[1], buf + *len, cap - 1 - *len, 0)) > 0) {
		*len += (size_t)r;
		writes++;
	}
	buf[*len] = '\0';
	close(cap_sv[1]);
	return (writes);
}

/* ---- a strict reader of flat one-line JSON objects and logfmt ---- */

struct field {
	char	val[4096];
	size_t	len;
	int	str;		/* a JSON string or quoted logfmt value */
	int	count;		/* times the key appeared */
};

/* Decode a quoted string at *p (after the quote).  0 or -1. */
static int
get_quoted(const char **p, const char *end, char *out, size_t *olen)
{
	const char *s = *p;
	unsigned v;
	int k;

	*olen = 0;
	for (; s < end && *s != '"'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || *olen >= 4000)
			return (-1);
		if (c != '\\') {
			out[(*olen)++] = (char)c;
			continue;
		}
		if (++s >= end)
			return (-1);
		switch (*s) {
		case '"': case '\\': case '/': out[(*olen)++] = *s; break;
		case 'n': out[(*olen)++] = '\n'; break;
		case 'r': out[(*olen)++] = '\r'; break;
		case 't': out[(*olen)++] = '\t'; break;
		case 'b': out[(*olen)++] = '\b'; break;
		case 'f': out[(*olen)++] = '\f'; break;
		case 'u':
			for (v = 0, k = 0; k < 4; k++) {
				if (++s >= end || !isxdigit((unsigned char)*s))
					return (-1);
				v = v * 16 + (unsigned)(isdigit(
				    (unsigned char)*s) ? *s - '0' :
				    tolower((unsigned char)*s) - 'a' + 10);
			}
			out[(*olen)++] = v < 0x100 ? (char)v : '?';
			break;
		default:
			return (-1);
		}
	}
	if (s >= end)
		return (-1);
	*p = s + 1;
	return (0);
}

/*
 * Validate the JSON line ${s} (${n} bytes, "}\n" included) as one flat
 * object of strings, numbers and null, and fetch ${key}.  0 or -1.
 */
static int
json_line(const char *s, size_t n, const char *key, struct field *f)
{
	const char *p = s, *end = s + n - 1;
	char k[4096], v[4096];
	size_t kl, vl;
	int first = 1, isstr;

	memset(f, 0, sizeof(*f));
	if (n < 3 || s[n - 1] != '\n' || memchr(s, '\n', n - 1) != NULL ||
	    *p++ != '{')
		return (-1);
	for (;;) {
		if (first && p < end && *p == '}')
			break;
		if (p >= end || *p++ != '"' || get_quoted(&p, end, k, &kl) ||
		    p >= end || *p++ != ':')
			return (-1);
		isstr = p < end && *p == '"';
		if (isstr) {
			p++;
			if (get_quoted(&p, end, v, &vl))
				return (-1);
		} else if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
			memcpy(v, "null", 4);
			vl = 4;
			p += 4;
		} else {
			for (vl = 0; p < end && isdigit((unsigned char)*p);
			    p++)
				v[vl++] = *p;
			if (vl == 0 || (vl > 1 && v[0] == '0'))
				return (-1);
		}
		if (kl == strlen(key) && memcmp(k, key, kl) == 0) {
			memcpy(f->val, v, vl);
			f->val[vl] = '\0';
			f->len = vl;
			f->str = isstr;
			f->count++;
		}
		first = 0;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}')
			break;
		return (-1);
	}
	return (p + 1 == end ? 0 : -1);
}

/* The same for a logfmt line: key=value pairs separated by one space. */
static int
logfmt_line(const char *s, size_t n, const char *key, struct field *f)
{
	const char *p = s, *end = s + n - 1, *k;
	char v[4096];
	size_t kl, vl;
	int isstr;

	memset(f, 0, sizeof(*f));
	if (n < 2 || s[n - 1] != '\n' || memchr(s, '\n', n - 1) != NULL)
		return (-1);
	while (p < end) {
		for (k = p; p < end && *p != '=' && *p != ' ' && *p != '"';
		    p++)
			;
		kl = (size_t)(p - k);
		if (kl == 0 || p >= end || *p++ != '=')
			return (-1);
		isstr = p < end && *p == '"';
		if (isstr) {
			p++;
			if (get_quoted(&p, end, v, &vl))
				return (-1);
		} else {
			for (vl = 0; p < end && *p != ' '; p++) {
				unsigned char c = (unsigned char)*p;
				if (c <= 0x20 || c >= 0x7f || c == '"' ||
				    c == '=' || c == '\\')
					return (-1);
				v[vl++] = *p;
			}
		}
		if (kl == strlen(key) && memcmp(k, key, kl) == 0) {
			memcpy(f->val, v, vl);
			f->val[vl] = '\0';
			f->len = vl;
			f->str = isstr;
			f->count++;
		}
		if (p < end && (*p++ != ' ' || p >= end))
			return (-1);
	}
	return (0);
}

static int
line_get(int json, const char *s, size_t n, const char *key,
    struct field *f)
{

	return (json ? json_line(s, n, key, f) : logfmt_line(s, n, key, f));
}

/* ---- lines ---- */

static char out[64 * 1024];
static size_t outlen;

/* Log one line with the string field "v" = ${v}; return the writes seen. */
static int
line_with(const char *v)
{
	struct log_line l;

	cap_begin();
	log_begin(&l, LOG_INFO, "test_event");
	log_str(&l, "v", v);
	log_end(&l);
	return (cap_end(out, sizeof(out), &outlen));
}

/* Is ${s} "YYYY-MM-DDThh:mm:ss.mmmZ"? */
static int
is_ts(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t i;

	if (strlen(s) != sizeof(pat) - 1)
		return (0);
	for (i = 0; pat[i] != '\0'; i++)
		if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) :
		    s[i] != pat[i])
			return (0);
	return (1);
}

static void
test_line(int json)
{
	const char *mode = json ? "json" : "text";
	struct log_line l;
	struct field f;
	int w;

	log_init(json);

	TEST_START("log line %s: fields", mode);
	cap_begin();
	log_begin(&l, LOG_INFO, "conn_open");
	log_u64(&l, "conn", 42);
	log_str(&l, "client", "203.0.113.9:51234");
	log_str(&l, "reason", "two words");
	log_u64(&l, "zero", 0);
	log_u64(&l, "max", UINT64_MAX);
	log_end(&l);
	w = cap_end(out, sizeof(out), &outlen);
	ASSERT_INT_EQ(w, 1);
	ASSERT_SIZE_LE(outlen, LOG_LINE_MAX);
	if (json) {
		ASSERT_MEM_EQ(out, "{\"ts\":\"", 7);
		ASSERT_STR_EQ(out + outlen - 2, "}\n");
	} else {
		ASSERT_MEM_EQ(out, "ts=", 3);
		ASSERT_PTR_NONNULL(strstr(out, " reason=\"two words\""));
	}
	if (ASSERT_INT_EQ(line_get(json, out, outlen, "ts", &f), 0)) {
		ASSERT_INT_EQ(f.count, 1);
		if (!ASSERT_TRUE(is_ts(f.val)))
			printf("  ts=%s\n", f.val);
		line_get(json, out, outlen, "level", &f);
		ASSERT_STR_EQ(f.val, "info");
		ASSERT_INT_EQ(f.count, 1);
		line_get(json, out, outlen, "event", &f);
		ASSERT_STR_EQ(f.val, "conn_open");
		line_get(json, out, outlen, "conn", &f);
		ASSERT_STR_EQ(f.val, "42");
		if (json)
			ASSERT_INT_EQ(f.str, 0);
		line_get(json, out, outlen, "client", &f);
		ASSERT_STR_EQ(f.val, "203.0.113.9:51234");
		line_get(json, out, outlen, "reason", &f);
		ASSERT_STR_EQ(f.val, "two words");
		line_get(json, out, outlen, "zero", &f);
		ASSERT_STR_EQ(f.val, "0");
		line_get(json, out, outlen, "max", &f);
		ASSERT_STR_EQ(f.val, "18446744073709551615");
		line_get(json, out, outlen, "trunc", &f);
		ASSERT_INT_EQ(f.count, 0);
	} else {
		printf("  line: %s", out);
	}
	TEST_DONE();

	TEST_START("log line %s: levels", mode);
	{
		static const enum log_level lv[] = {
			LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR
		};
		char seen[4][32];
		size_t i, j;
		for (i = 0; i < 4; i++) {
			cap_begin();
			log_begin(&l, lv[i], "e");
			log_end(&l);
			cap_end(out, sizeof(out), &outlen);
			seen[i][0] = '\0';
			if (ASSERT_INT_EQ(line_get(json, out, outlen, "level",
			    &f), 0) && ASSERT_INT_EQ(f.count, 1))
				snprintf(seen[i], sizeof(seen[i]), "%s", f.val);
			ASSERT_SIZE_GT(strlen(seen[i]), 0);
			for (j = 0; j < i; j++)
				ASSERT_STR_NE(seen[i], seen[j]);
		}
		ASSERT_STR_EQ(seen[1], "info");
		ASSERT_STR_EQ(seen[3], "error");
	}
	TEST_DONE();

	TEST_START("log line %s: NULL and empty values", mode);
	w = line_with(NULL);
	ASSERT_INT_EQ(w, 1);
	if (ASSERT_INT_EQ(line_get(json, out, outlen, "v", &f), 0)) {
		ASSERT_INT_EQ(f.count, 1);
		if (json) {
			ASSERT_INT_EQ(f.str, 0);
			ASSERT_STR_EQ(f.val, "null");
		} else {
			ASSERT_PTR_NONNULL(strstr(out, " v=\"\""));
		}
	}
	line_with("");
	if (ASSERT_INT_EQ(line_get(json, out, outlen, "v", &f), 0)) {
		ASSERT_INT_EQ(f.str, 1);
		ASSERT_STR_EQ(f.val, "");
	}
	TEST_DONE();

	TEST_START("log line %s: quoting", mode);
	{
		static const char *const vals[] = {
			"a=b", "say \"hi\"", "back\\slash", "x y", " ",
			"line\nbreak", "tab\there", "\x1b[2J", "=", "\"",
		};
		size_t i;
		for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			w = line_with(vals[i]);
			ASSERT_INT_EQ(w, 1);
			if (!ASSERT_INT_EQ(line_get(json, out, outlen, "v",
			    &f), 0)) {
				printf("  line: %s", out);
				continue;
			}
			ASSERT_INT_EQ(f.str, 1);	/* all need quotes */
			ASSERT_STR_EQ(f.val, vals[i]);
		}
	}
	TEST_DONE();

	/* Every byte value survives escaping and decodes back. */
	TEST_START("log line %s: bytes 1..255 round trip", mode);
	{
		char v[33];
		int b, k;
		for (b = 1; b < 256; b += 32) {
			for (k = 0; k < 32 && b + k < 256; k++)
				v[k] = (char)(b + k);
			v[k] = '\0';
			w = line_with(v);
			ASSERT_INT_EQ(w, 1);
			if (ASSERT_INT_EQ(line_get(json, out, outlen, "v",
			    &f), 0)) {
				ASSERT_SIZE_EQ(f.len, strlen(v));
				ASSERT_STR_EQ(f.val, v);
			}
		}
	}
	TEST_DONE();

	TEST_START("log_msg %s", mode);
	cap_begin();
	log_msg(LOG_WARN, "allowlist_stale", "file is old");
	ASSERT_INT_EQ(cap_end(out, sizeof(out), &outlen), 1);
	if (ASSERT_INT_EQ(line_get(json, out, outlen, "msg", &f), 0)) {
		ASSERT_STR_EQ(f.val, "file is old");
		line_get(json, out, outlen, "event", &f);
		ASSERT_STR_EQ(f.val, "allowlist_stale");
	}
	TEST_DONE();

	TEST_START("log_errno %s", mode);
	{
		char want[256];
		snprintf(want, sizeof(want), "open /x: %s", strerror(ENOENT));
		errno = ENOENT;
		cap_begin();
		log_errno("open_failed", "open /x");
		ASSERT_INT_EQ(errno, 0);
		ASSERT_INT_EQ(cap_end(out, sizeof(out), &outlen), 1);
		if (ASSERT_INT_EQ(line_get(json, out, outlen, "error", &f),
		    0)) {
			ASSERT_STR_EQ(f.val, want);
			line_get(json, out, outlen, "level", &f);
			ASSERT_STR_EQ(f.val, "error");
			line_get(json, out, outlen, "event", &f);
			ASSERT_STR_EQ(f.val, "open_failed");
		}
	}
	TEST_DONE();
}

/* A cut line: within LOG_LINE_MAX, one write, parseable, marked trunc. */
static void
check_trunc(int json)
{
	struct field f;

	ASSERT_SIZE_LE(outlen, LOG_LINE_MAX);
	if (json) {
		if (outlen >= 12)
			ASSERT_STR_EQ(out + outlen - 12, ",\"trunc\":1}\n");
	} else if (outlen >= 9) {
		ASSERT_STR_EQ(out + outlen - 9, " trunc=1\n");
	}
	if (!ASSERT_INT_EQ(line_get(json, out, outlen, "trunc", &f), 0)) {
		printf("  line: %.*s...%s", 60, out,
		    out + (outlen > 60 ? outlen - 60 : 0));
		return;
	}
	ASSERT_INT_EQ(f.count, 1);
	ASSERT_STR_EQ(f.val, "1");
	line_get(json, out, outlen, "event", &f);
	ASSERT_STR_EQ(f.val, "test_event");
}

static void
test_trunc(int json)
{
	const char *mode = json ? "json" : "text";
	char big[4000];
	struct log_line l;
	struct field f;
	size_t base, k;
	int i;

	log_init(json);

	TEST_START("log truncation %s: 3000-byte value", mode);
	memset(big, 'a', 3000);
	big[3000] = '\0';
	ASSERT_INT_EQ(line_with(big), 1);
	check_trunc(json);
	TEST_DONE();

	TEST_START("log truncation %s: 1000 control bytes, 1000 quotes", mode);
	memset(big, 0x01, 1000);
	big[1000] = '\0';
	ASSERT_INT_EQ(line_with(big), 1);
	check_trunc(json);
	memset(big, '"', 1000);
	ASSERT_INT_EQ(line_with(big), 1);
	check_trunc(json);
	TEST_DONE();

	TEST_START("log truncation %s: 200 fields", mode);
	cap_begin();
	log_begin(&l, LOG_INFO, "test_event");
	for (i = 0; i < 200; i++)
		log_u64(&l, "field_name", 1234567890);
	log_end(&l);
	ASSERT_INT_EQ(cap_end(out, sizeof(out), &outlen), 1);
	check_trunc(json);
	TEST_DONE();

	TEST_START("log truncation %s: next line is whole again", mode);
	ASSERT_INT_EQ(line_with("short"), 1);
	if (ASSERT_INT_EQ(line_get(json, out, outlen, "v", &f), 0)) {
		ASSERT_STR_EQ(f.val, "short");
		line_get(json, out, outlen, "trunc", &f);
		ASSERT_INT_EQ(f.count, 0);
	}
	TEST_DONE();

	/*
	 * Every short length, each byte distinct from its neighbours: the
	 * pieces of a line are copied by lengths 1-3, 4-7, 8-16 and longer
	 * (log.c, copy), each way with its own moves.
	 */
	TEST_START("log line %s: values of 1 to 40 bytes", mode);
	for (k = 1; k <= 40; k++) {
		for (base = 0; base < k; base++)
			big[base] = (char)('a' + base % 26);
		big[k] = '\0';
		if (!ASSERT_INT_EQ(line_with(big), 1))
			break;
		if (!ASSERT_INT_EQ(line_get(json, out, outlen, "v", &f), 0) ||
		    !ASSERT_STR_EQ(f.val, big))
			break;
	}
	TEST_DONE();

	/*
	 * Every length around the limit: a line that fits in LOG_LINE_MAX
	 * is written whole, a longer one is cut and marked (log.h: "a line
	 * longer than LOG_LINE_MAX is cut").
	 */
	TEST_START("log truncation %s: lengths around LOG_LINE_MAX", mode);
	line_with("a");
	base = outlen - 1;
	for (k = LOG_LINE_MAX - base - 40; k <= LOG_LINE_MAX - base + 40;
	    k++) {
		memset(big, 'a', k);
		big[k] = '\0';
		if (!ASSERT_INT_EQ(line_with(big), 1))
			break;
		if (base + k <= LOG_LINE_MAX) {
			if (!ASSERT_SIZE_EQ(outlen, base + k)) {
				printf("  value of %zu bytes, line of %zu"
				    " would fit\n", k, base + k);
				break;
			}
		} else {
			check_trunc(json);
		}
	}
	TEST_DONE();
}

int
main(void)
{

	test_quote();
	test_line(1);
	test_line(0);
	test_trunc(1);
	test_trunc(0);
	log_init(1);
	return (test_summary());
}
