#ifndef LOG_H_
#define LOG_H_

#include <stddef.h>
#include <stdint.h>

/*
 * Structured logging: one event per line on fd 2, written with a single
 * write(2) from a stack buffer, as JSON (default) or logfmt.  Values are
 * escaped; a line longer than LOG_LINE_MAX is cut and marked trunc.
 * Payload bytes must never be passed to this module.
 */

#define LOG_LINE_MAX	1024

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR
};

struct log_line {
	char	buf[2 * LOG_LINE_MAX];	/* room to see that a line overflows */
	size_t	len;
	size_t	safe;		/* last offset where the line can be cut */
	int	safe_inq;	/* ... inside a quoted value */
	int	full;		/* buf ran out: later fields are dropped */
	int	now;		/* warn or error: written without waiting */
};

/** log_init(json): select JSON lines (${json} != 0) or logfmt. */
void log_init(int json);

/**
 * log_set_worker(index): tag every later line with "worker" ${index}
 * (--workers N), or with nothing when ${index} is -1.
 */
void log_set_worker(int index);

/** log_begin(l, level, event): start a line for ${event} at ${level}. */
void log_begin(struct log_line *l, enum log_level level, const char *event);

/** log_str(l, key, val): add a string field (NULL is written as null/""). */
void log_str(struct log_line *l, const char *key, const char *val);

/** log_u64(l, key, v): add an unsigned number field. */
void log_u64(struct log_line *l, const char *key, uint64_t v);

/**
 * log_end(l): terminate the line and write it to fd 2 in one write(2), or
 * add it to the batch while batching.
 */
void log_end(struct log_line *l);

/**
 * log_batch(on): gather lines (the event loop, ${on} != 0) until
 * log_flush(), or write each at once; either way what is gathered is
 * written first.
 */
void log_batch(int on);

/** log_flush(): write the gathered lines, whole, in one write(2). */
void log_flush(void);

/** log_pending(): lines are gathered and not written yet. */
int log_pending(void);

/** log_msg(level, event, msg): a line with a single "msg" field. */
void log_msg(enum log_level level, const char *event, const char *msg);

/**
 * log_errno(event, what): an error line whose "error" field reads
 * "${what}: strerror(errno)"; errno is cleared afterwards.
 */
void log_errno(const char *event, const char *what);

/**
 * log_quote(dst, cap, src): ${src} as a logfmt line writes it, for output
 * beside the log (the --check report): as it is when it needs no quotes,
 * else in double quotes with the escapes of a log value (quotes,
 * backslashes, control and non-ASCII bytes), so that it stays one
 * value on one line.  Writes a NUL-terminated string of at most ${cap}
 * bytes (${cap} >= 3) to ${dst}, cut before an escape that does not fit
 * but still closed; returns ${dst}.
 */
char *log_quote(char *dst, size_t cap, const char *src);

#endif /* !LOG_H_ */
