/*
 * Structured logging (log.h): building a line, escaping its values,
 * and gathering lines while the loop is busy.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_json = 1;
static int log_worker = -1;	/* --workers: this process's index */

/*
 * Inside the event loop, lines are gathered and written together (see
 * loop.c: when BATCH_MAX is reached, or when the oldest has waited
 * LOOP_LOG_HOLD_MS): one write(2) of at most PIPE_BUF bytes,
 * atomic on the pipe that Docker, ECS and Kubernetes give a container's
 * stderr, instead of one write and one wake-up of the log reader per line.
 */
#define BATCH_MAX	4096
static char batch[BATCH_MAX];
static size_t batch_len;
static int batching;

static const char *const level_names[] = {
	"debug", "info", "warn", "error"
};

/* The tails of a complete and of a cut line. */
#define TAIL_JSON	"}\n"
#define TAIL_TEXT	"\n"
#define TRUNC_JSON	",\"trunc\":1}\n"
#define TRUNC_TEXT	" trunc=1\n"

void
log_init(int json)
{

	log_json = json;
}

void
log_set_worker(int index)
{

	log_worker = index;
}

/* Bytes that may precede a cut: the closing quote and the trunc tail. */
static size_t
cut_limit(void)
{

	return (LOG_LINE_MAX - 1 - (log_json ? sizeof(TRUNC_JSON) - 1 :
	    sizeof(TRUNC_TEXT) - 1));
}

/*
 * Copy ${n} bytes.  The pieces of a line are short (a key, a number, an
 * address: bench/README.md, "The apart topology, in short"), and musl's
 * memcpy starts each with a `rep movs` that costs more than such a copy:
 * two overlapping fixed-size moves cover any length from 4 to 16.
 */
static void
copy(char *dst, const char *src, size_t n)
{

	if (n > 16)
		memcpy(dst, src, n);
	else if (n >= 8) {
		memcpy(dst, src, 8);
		memcpy(dst + (n - 8), src + (n - 8), 8);
	} else if (n >= 4) {
		memcpy(dst, src, 4);
		memcpy(dst + (n - 4), src + (n - 4), 4);
	} else if (n > 0) {
		dst[0] = src[0];
		dst[n / 2] = src[n / 2];
		dst[n - 1] = src[n - 1];
	}
}

/*
 * Append raw bytes.  ${safe_after}: the line could be cut right after
 * them (inside a quoted value if ${inq}); recorded while under the limit.
 */
static void
put(struct log_line *l, const char *s, size_t n, int safe_after, int inq)
{

	if (l->full || l->len + n > sizeof(l->buf)) {
		l->full = 1;
		return;
	}
	copy(l->buf + l->len, s, n);
	l->len += n;
	if (safe_after && l->len <= cut_limit()) {
		l->safe = l->len;
		l->safe_inq = inq;
	}
}

/* Does a logfmt value need quotes? */
static int
needs_quotes(const char *s)
{

	if (*s == '\0')
		return (1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			return (1);
	}
	return (0);
}

/* Escape one byte into ${tmp}; returns its length (1 to 6). */
static size_t
escape_char(unsigned char c, char tmp[6])
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		tmp[0] = '\\';
		tmp[1] = (char)c;
		return (2);
	}
	if (c == '\n') {
		tmp[0] = '\\';
		tmp[1] = 'n';
		return (2);
	}
	if (c < 0x20 || c >= 0x7f) {
		/* Control and non-ASCII bytes (not validated as UTF-8). */
		tmp[0] = '\\';
		tmp[1] = 'u';
		tmp[2] = '0';
		tmp[3] = '0';
		tmp[4] = hex[c >> 4];
		tmp[5] = hex[c & 15];
		return (6);
	}
	tmp[0] = (char)c;
	return (1);
}

char *
log_quote(char *dst, size_t cap, const char *src)
{
	int quote = needs_quotes(src);
	size_t n = 0, tn, end = cap - 1 - (size_t)quote;
	char tmp[6];

	/* Unquoted, escape_char copies every byte as it is. */
	if (quote)
		dst[n++] = '"';
	for (; *src != '\0'; src++) {
		tn = escape_char((unsigned char)*src, tmp);
		if (n + tn > end)
			break;
		memcpy(dst + n, tmp, tn);
		n += tn;
	}
	if (quote)
		dst[n++] = '"';
	dst[n] = '\0';
	return (dst);
}

static void
put_key(struct log_line *l, const char *key)
{

	if (log_json) {
		put(l, ",\"", 2, 0, 0);
		put(l, key, strlen(key), 0, 0);
		put(l, "\":", 2, 0, 0);
	} else {
		put(l, " ", 1, 0, 0);
		put(l, key, strlen(key), 0, 0);
		put(l, "=", 1, 0, 0);
	}
}

/*
 * How many bytes from ${s} on, at most ${max}, escape_char copies as they
 * are.
 */
static size_t
plain_run(const char *s, size_t max)
{
	size_t n;
	unsigned char c;

	for (n = 0; n < max; n++) {
		c = (unsigned char)s[n];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			break;
	}
	return (n);
}

static void
put_value(struct log_line *l, const char *val)
{
	int quote = log_json || needs_quotes(val);
	size_t tn, run, room;
	char tmp[6];

	if (quote)
		put(l, "\"", 1, 1, 1);
	while (*val != '\0' && !l->full) {
		/* A run that needs no escapes is copied whole while the line
		 * stays below its cut limit; near it, byte by byte, so that a
		 * cut still lands on a character boundary. */
		room = l->len + 2 < cut_limit() ? cut_limit() - l->len - 2 : 0;
		run = plain_run(val, room);
		if (run > 1) {
			put(l, val, run, quote, 1);
			val += run;
			continue;
		}
		tn = escape_char((unsigned char)*val, tmp);
		/* Inside quotes any escape boundary is a place to cut. */
		put(l, tmp, tn, quote, 1);
		val++;
	}
	put(l, "\"", quote ? 1 : 0, 1, 0);
}

static void
put_time(struct log_line *l)
{
	/* The date and time to the second, formatted once per second. */
	static time_t sec = -1;
	static char day[24];
	static size_t dayn;
	struct timespec ts;
	struct tm tm;
	char buf[40];
	size_t n;

	/* CLOCK_REALTIME goes through the vDSO: no syscall in practice. */
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		put_value(l, "1970-01-01T00:00:00.000Z");
		return;
	}
	if (ts.tv_sec != sec) {
		if (gmtime_r(&ts.tv_sec, &tm) == NULL) {
			put_value(l, "1970-01-01T00:00:00.000Z");
			return;
		}
		dayn = strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
		sec = ts.tv_sec;
	}
	memcpy(buf, day, dayn);
	n = dayn;
	buf[n++] = '.';
	buf[n++] = (char)('0' + ts.tv_nsec / 100000000);
	buf[n++] = (char)('0' + ts.tv_nsec / 10000000 % 10);
	buf[n++] = (char)('0' + ts.tv_nsec / 1000000 % 10);
	buf[n++] = 'Z';
	buf[n] = '\0';
	put_value(l, buf);
}

void
log_begin(struct log_line *l, enum log_level level, const char *event)
{

	l->len = l->safe = 0;
	l->safe_inq = l->full = 0;
	/* Warnings and errors explain what comes next (a crash, a kill):
	 * they, and the lines gathered before them, go out at once. */
	l->now = level >= LOG_WARN;
	if (log_json)
		put(l, "{\"ts\":", 6, 0, 0);
	else
		put(l, "ts=", 3, 0, 0);
	put_time(l);
	put_key(l, "level");
	put_value(l, level_names[level]);
	put_key(l, "event");
	put_value(l, event);
	if (log_worker >= 0)
		log_u64(l, "worker", (uint64_t)log_worker);
}

void
log_str(struct log_line *l, const char *key, const char *val)
{

	put_key(l, key);
	if (val == NULL && log_json)
		put(l, "null", 4, 1, 0);
	else
		put_value(l, val == NULL ? "" : val);
}

void
log_u64(struct log_line *l, const char *key, uint64_t v)
{
	char buf[24];
	size_t i = sizeof(buf);

	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put_key(l, key);
	put(l, buf + i, sizeof(buf) - i, 1, 0);
}

/* Whole lines in one write: atomic on a pipe up to PIPE_BUF. */
static void
write_all(const char *p, size_t n)
{
	ssize_t w;
	size_t off = 0;

	/* Retry only on EINTR. */
	while (off < n) {
		w = write(2, p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void
log_end(struct log_line *l)
{
	const char *tail = log_json ? TAIL_JSON : TAIL_TEXT;

	if (l->full || l->len + strlen(tail) > LOG_LINE_MAX) {
		/* Cut at the last safe point; close the quote; mark it. */
		l->len = l->safe;
		if (l->safe_inq)
			l->buf[l->len++] = '"';
		tail = log_json ? TRUNC_JSON : TRUNC_TEXT;
	}
	copy(l->buf + l->len, tail, strlen(tail));
	l->len += strlen(tail);
	if (!batching) {
		write_all(l->buf, l->len);
		return;
	}
	if (batch_len + l->len > sizeof(batch))
		log_flush();
	memcpy(batch + batch_len, l->buf, l->len);
	batch_len += l->len;
	if (l->now)
		log_flush();
}

void
log_batch(int on)
{

	log_flush();
	batching = on;
}

int
log_pending(void)
{

	return (batch_len > 0);
}

void
log_flush(void)
{

	if (batch_len > 0)
		write_all(batch, batch_len);
	batch_len = 0;
}

void
log_msg(enum log_level level, const char *event, const char *msg)
{
	struct log_line l;

	log_begin(&l, level, event);
	log_str(&l, "msg", msg);
	log_end(&l);
}

void
log_errno(const char *event, const char *what)
{
	struct log_line l;
	char buf[256];
	size_t n;

	n = strlen(what);
	if (n > 128)
		n = 128;
	memcpy(buf, what, n);
	memcpy(buf + n, ": ", 2);
	n += 2;
	strncpy(buf + n, strerror(errno), sizeof(buf) - n - 1);
	buf[sizeof(buf) - 1] = '\0';
	log_begin(&l, LOG_ERROR, event);
	log_str(&l, "error", buf);
	log_end(&l);
	errno = 0;
}
