#ifndef JSON_H_
#define JSON_H_

#include <stddef.h>

/*
 * A strict RFC 8259 JSON tokenizer: iterative (no recursion), nesting
 * capped, linear time.  Written rather than taken from jsmn, which accepts
 * malformed documents even in strict mode (missing or trailing commas,
 * "a"::1, raw control bytes in strings) and takes quadratic time on deep
 * nesting.
 *
 * Tokens follow jsmn's model: an object's size is its number of keys, a
 * key (a string) has size 1 (its value), an array's size is its number of
 * elements.  start/end delimit the text; for strings, the bytes between the
 * quotes (escapes are validated, not decoded).
 */

#define JSON_MAX_DEPTH	32

enum json_type {
	JSON_OBJECT = 1,
	JSON_ARRAY,
	JSON_STRING,
	JSON_PRIMITIVE		/* number, true, false, null */
};

struct json_tok {
	enum json_type type;
	size_t	start;
	size_t	end;
	size_t	size;
};

/**
 * json_parse(buf, len, toks, cap, maxdepth, errpos): tokenize the single
 * JSON value in ${buf} (surrounding whitespace allowed).  With ${toks} ==
 * NULL only count.  Nesting deeper than ${maxdepth} (at most
 * JSON_MAX_DEPTH) is an error.  Returns the number of tokens, or -1 with
 * the offending byte offset in ${errpos}, or -2 when more than ${cap}
 * tokens are needed.
 */
long json_parse(const char *buf, size_t len, struct json_tok *toks, size_t cap,
    unsigned maxdepth, size_t *errpos);

#endif /* !JSON_H_ */
