#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Room kept at the end of every line for the trunc marker and newline. */
#define LOG_RESERVE	24

static int log_json = 1;

static const char *const level_names[] = {
	"debug", "info", "warn", "error"
};

void
log_init(int json)
{

	log_json = json;
}

/* Append raw bytes, marking the line truncated when they do not fit. */
static void
put(struct log_line *l, const char *s, size_t n)
{
	size_t room = LOG_LINE_MAX - LOG_RESERVE - l->len;

	if (l->trunc)
		return;
	if (n > room) {
		n = room;
		l->trunc = 1;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
puts0(struct log_line *l, const char *s)
{

	put(l, s, strlen(s));
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

size_t
log_escape(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	char tmp[6];
	size_t tn;

	for (; *src != '\0'; src++) {
		unsigned char c = (unsigned char)*src;
		tn = 0;
		if (c == '"' || c == '\\') {
			tmp[tn++] = '\\';
			tmp[tn++] = (char)c;
		} else if (c == '\n') {
			tmp[tn++] = '\\';
			tmp[tn++] = 'n';
		} else if (c < 0x20 || c >= 0x7f) {
			/* Control and non-ASCII bytes (not validated as UTF-8). */
			tmp[tn++] = '\\';
			tmp[tn++] = 'u';
			tmp[tn++] = '0';
			tmp[tn++] = '0';
			tmp[tn++] = hex[c >> 4];
			tmp[tn++] = hex[c & 15];
		} else {
			tmp[tn++] = (char)c;
		}
		if (n + tn > cap)
			return (cap);
		memcpy(dst + n, tmp, tn);
		n += tn;
	}
	return (n);
}

static void
put_key(struct log_line *l, const char *key)
{

	if (log_json) {
		puts0(l, ",\"");
		puts0(l, key);
		puts0(l, "\":");
	} else {
		puts0(l, " ");
		puts0(l, key);
		puts0(l, "=");
	}
}

static void
put_value(struct log_line *l, const char *val)
{
	char esc[LOG_LINE_MAX];
	size_t n;
	int quote;

	quote = log_json || needs_quotes(val);
	n = log_escape(esc, sizeof(esc), val);
	if (quote)
		puts0(l, "\"");
	put(l, esc, n);
	if (quote)
		puts0(l, "\"");
}

static void
put_time(struct log_line *l)
{
	struct timespec ts;
	struct tm tm;
	char buf[40];
	size_t n;

	/* CLOCK_REALTIME goes through the vDSO: no syscall in practice. */
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 ||
	    gmtime_r(&ts.tv_sec, &tm) == NULL) {
		put_value(l, "1970-01-01T00:00:00.000Z");
		return;
	}
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
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

	l->len = 0;
	l->trunc = 0;
	if (log_json)
		puts0(l, "{\"ts\":");
	else
		puts0(l, "ts=");
	put_time(l);
	put_key(l, "level");
	put_value(l, level_names[level]);
	put_key(l, "event");
	put_value(l, event);
}

void
log_str(struct log_line *l, const char *key, const char *val)
{

	put_key(l, key);
	if (val == NULL && log_json)
		puts0(l, "null");
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
	put(l, buf + i, sizeof(buf) - i);
}

void
log_end(struct log_line *l)
{
	const char *tail;
	ssize_t w;
	size_t off = 0;

	/* LOG_RESERVE leaves room for this tail even after truncation. */
	if (l->trunc)
		tail = log_json ? ",\"trunc\":1}\n" : " trunc=1\n";
	else
		tail = log_json ? "}\n" : "\n";
	memcpy(l->buf + l->len, tail, strlen(tail));
	l->len += strlen(tail);

	/* One write: atomic on a pipe up to PIPE_BUF.  Retry only on EINTR. */
	while (off < l->len) {
		w = write(2, l->buf + off, l->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
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
