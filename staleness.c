/*
 * allowlist_stale at startup and while running; the file's age for stats.
 */
#include <stdint.h>
#include <time.h>

#include "log.h"
#include "loop.h"
#include "staleness.h"

static struct {
	const char *path;
	const char *create_date;
	time_t	created;
	uint64_t warned_at;	/* loop_now() of the last warning; 0: never */
	int	warned;
	struct loop_timer timer;
} st;

uint64_t
staleness_age_days(void)
{
	time_t now = time(NULL);

	/* No file (endpoint-only mode), or one from the future (a skewed
	 * clock): no age. */
	if (st.path == NULL || now <= st.created)
		return (0);
	return ((uint64_t)(now - st.created) / 86400);
}

/* Warn when too old: the first time, then at most once a day. */
static void
judge(uint64_t now_ms)
{
	struct log_line l;
	uint64_t days = staleness_age_days();

	if (days < STALENESS_DAYS)
		return;
	if (st.warned && now_ms - st.warned_at < STALENESS_REPEAT_S * 1000ull)
		return;
	st.warned = 1;
	st.warned_at = now_ms;
	log_begin(&l, LOG_WARN, "allowlist_stale");
	log_str(&l, "file", st.path);
	log_str(&l, "create_date", st.create_date);
	log_u64(&l, "age_days", days);
	log_end(&l);
}

static void
callback_timer(struct loop_timer *t)
{

	judge(loop_now());
	t->at = loop_now() + STALENESS_CHECK_S * 1000ull;
}

void
staleness_init(const char *path, const char *create_date, time_t created)
{

	st.path = path;
	st.create_date = create_date;
	st.created = created;
	judge(loop_clock());
}

int
staleness_start(void)
{

	st.timer.cb = callback_timer;
	st.timer.at = loop_now() + STALENESS_CHECK_S * 1000ull;
	return (loop_timer_add(&st.timer));
}
