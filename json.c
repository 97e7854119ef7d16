/*
 * The JSON tokenizer (json.h): one pass, an explicit stack instead of
 * recursion.
 */
#include <string.h>

#include "json.h"

enum state {
	S_VALUE,		/* a value; or ']' right after '[' */
	S_KEY,			/* a key string; or '}' right after '{' */
	S_COLON,
	S_NEXT			/* ',' or the closing bracket */
};

struct parser {
	const char *b;
	size_t	len, pos;
	struct json_tok *t;
	size_t	cap, n;
	size_t	stack[JSON_MAX_DEPTH];	/* token index of each container */
	enum json_type stype[JSON_MAX_DEPTH];
	unsigned depth, maxdepth;
};

static int
is_ws(char c)
{

	return (c == ' ' || c == '\t' || c == '\n' || c == '\r');
}

static int
is_digit(char c)
{

	return (c >= '0' && c <= '9');
}

/* Append a token; returns its index, or -2 when out of room. */
static long
add(struct parser *p, enum json_type type, size_t start, size_t end)
{

	if (p->t != NULL) {
		if (p->n >= p->cap)
			return (-2);
		p->t[p->n].type = type;
		p->t[p->n].start = start;
		p->t[p->n].end = end;
		p->t[p->n].size = 0;
	}
	return ((long)p->n++);
}

/* Count one more key (object) or element (array) in the container. */
static void
bump(struct parser *p)
{

	if (p->t != NULL && p->depth > 0)
		p->t[p->stack[p->depth - 1]].size++;
}

/* A string at p->pos (the opening quote); leaves pos after the close. */
static int
scan_string(struct parser *p, size_t *start, size_t *end)
{
	size_t i = p->pos + 1;
	unsigned char c;
	int k;

	*start = i;
	while (i < p->len) {
		c = (unsigned char)p->b[i];
		if (c == '"') {
			*end = i;
			p->pos = i + 1;
			return (0);
		}
		if (c < 0x20)
			break;
		if (c == '\\') {
			if (++i >= p->len)
				break;
			c = (unsigned char)p->b[i];
			if (c == 'u') {
				for (k = 0; k < 4; k++)
					if (++i >= p->len ||
					    !strchr("0123456789abcdefABCDEF",
					    p->b[i]) || p->b[i] == '\0')
						goto bad;
			} else if (!strchr("\"\\/bfnrt", (char)c) || c == 0) {
				break;
			}
		}
		i++;
	}
bad:
	p->pos = i;
	return (-1);
}

/* Digits: at least one.  Returns the count. */
static size_t
digits(const struct parser *p, size_t i)
{
	size_t n = 0;

	while (i + n < p->len && is_digit(p->b[i + n]))
		n++;
	return (n);
}

/* A number or literal at p->pos; must end at a delimiter. */
static int
scan_primitive(struct parser *p)
{
	size_t i = p->pos, n;
	static const char *const lit[] = { "true", "false", "null" };
	int k;

	for (k = 0; k < 3; k++) {
		n = strlen(lit[k]);
		if (p->len - i >= n && memcmp(p->b + i, lit[k], n) == 0) {
			i += n;
			goto delim;
		}
	}
	/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	if (i < p->len && p->b[i] == '-')
		i++;
	if ((n = digits(p, i)) == 0 || (n > 1 && p->b[i] == '0'))
		return (-1);
	i += n;
	if (i < p->len && p->b[i] == '.') {
		if ((n = digits(p, ++i)) == 0)
			return (-1);
		i += n;
	}
	if (i < p->len && (p->b[i] == 'e' || p->b[i] == 'E')) {
		i++;
		if (i < p->len && (p->b[i] == '+' || p->b[i] == '-'))
			i++;
		if ((n = digits(p, i)) == 0)
			return (-1);
		i += n;
	}
delim:
	if (i < p->len && !is_ws(p->b[i]) && p->b[i] != ',' &&
	    p->b[i] != ']' && p->b[i] != '}')
		return (-1);
	p->pos = i;
	return (0);
}

/* A value starting at p->pos; opens a container or adds a scalar. */
static int
value(struct parser *p, enum state *s)
{
	size_t start = p->pos, a, z;
	char c = p->b[p->pos];
	long idx;

	if (p->depth > 0 && p->stype[p->depth - 1] == JSON_ARRAY)
		bump(p);
	if (c == '{' || c == '[') {
		if (p->depth >= p->maxdepth)
			return (-1);
		idx = add(p, c == '{' ? JSON_OBJECT : JSON_ARRAY, start, 0);
		if (idx < 0)
			return ((int)idx);
		p->stack[p->depth] = (size_t)idx;
		p->stype[p->depth++] = c == '{' ? JSON_OBJECT : JSON_ARRAY;
		p->pos++;
		*s = c == '{' ? S_KEY : S_VALUE;
		return (1);	/* a close may follow at once */
	}
	if (c == '"') {
		if (scan_string(p, &a, &z))
			return (-1);
		if ((idx = add(p, JSON_STRING, a, z)) < 0)
			return ((int)idx);
	} else {
		if (scan_primitive(p))
			return (-1);
		if ((idx = add(p, JSON_PRIMITIVE, start, p->pos)) < 0)
			return ((int)idx);
	}
	*s = S_NEXT;
	return (0);
}

/* A closing bracket at p->pos matching the innermost container. */
static int
close_container(struct parser *p, enum state *s)
{
	enum json_type want = p->b[p->pos] == '}' ? JSON_OBJECT : JSON_ARRAY;

	if (p->depth == 0 || p->stype[p->depth - 1] != want)
		return (-1);
	p->depth--;
	if (p->t != NULL)
		p->t[p->stack[p->depth]].end = p->pos + 1;
	p->pos++;
	*s = S_NEXT;
	return (0);
}

/* One step of the automaton at a non-space byte; 0, -1 or -2. */
static int
step(struct parser *p, enum state *s, int *may_close)
{
	char c = p->b[p->pos];
	size_t a, z;
	long idx;
	int r;

	if (*may_close && (c == '}' || c == ']')) {
		*may_close = 0;
		return (close_container(p, s));
	}
	*may_close = 0;
	switch (*s) {
	case S_VALUE:
		if ((r = value(p, s)) == 1)
			*may_close = 1;
		return (r < 0 ? r : 0);
	case S_KEY:
		if (c != '"' || scan_string(p, &a, &z))
			return (-1);
		if ((idx = add(p, JSON_STRING, a, z)) < 0)
			return ((int)idx);
		bump(p);
		if (p->t != NULL)
			p->t[idx].size = 1;
		*s = S_COLON;
		return (0);
	case S_COLON:
		if (c != ':')
			return (-1);
		p->pos++;
		*s = S_VALUE;
		return (0);
	case S_NEXT:
		if (p->depth == 0)
			return (-1);	/* data after the top-level value */
		if (c == '}' || c == ']')
			return (close_container(p, s));
		if (c != ',')
			return (-1);
		p->pos++;
		*s = p->stype[p->depth - 1] == JSON_OBJECT ? S_KEY : S_VALUE;
		return (0);
	}
	return (-1);
}

long
json_parse(const char *buf, size_t len, struct json_tok *toks, size_t cap,
    unsigned maxdepth, size_t *errpos)
{
	struct parser p;
	enum state s = S_VALUE;
	int may_close = 0, r;

	memset(&p, 0, sizeof(p));
	p.b = buf;
	p.len = len;
	p.t = toks;
	p.cap = cap;
	p.maxdepth = maxdepth < JSON_MAX_DEPTH ? maxdepth : JSON_MAX_DEPTH;
	for (;;) {
		while (p.pos < len && is_ws(buf[p.pos]))
			p.pos++;
		if (p.pos == len)
			break;
		if ((r = step(&p, &s, &may_close)) != 0) {
			*errpos = p.pos;
			return (r);
		}
	}
	if (s != S_NEXT || p.depth != 0) {
		*errpos = p.pos;	/* empty, or cut short */
		return (-1);
	}
	return ((long)p.n);
}
