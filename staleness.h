#ifndef STALENESS_H_
#define STALENESS_H_

#include <stdint.h>
#include <time.h>

/*
 * The age of the ip-ranges.json file the relay runs on.  A container can
 * run for months on the file its image was built with, so the age is
 * judged at startup and again while the relay runs: `allowlist_stale`
 * (warning) when the file is older than STALENESS_DAYS, at once and then
 * once a day; and the age in days is a field of the stats event.  In
 * endpoint-only mode no file is read: staleness_init is not called, no
 * warning is logged and the age is 0.
 */

#define STALENESS_DAYS		30
/* How often the age is judged again (seconds); make shortclock shortens it. */
#ifndef STALENESS_CHECK_S
#define STALENESS_CHECK_S	3600
#endif
#define STALENESS_REPEAT_S	(24 * 3600)	/* repeat the warning daily */

/**
 * staleness_init(path, create_date, created): remember the file ${path}
 * and its createDate (${create_date} as text, ${created} in seconds since
 * the epoch), and log allowlist_stale now if it is already too old.
 */
void staleness_init(const char *path, const char *create_date,
    time_t created);

/**
 * staleness_start(): judge the age again every STALENESS_CHECK_S seconds
 * inside the event loop (call after loop_init).  Returns 0, or -1 after
 * logging startup_failed.
 */
int staleness_start(void);

/** staleness_age_days(): whole days since createDate (0 if in the future). */
uint64_t staleness_age_days(void);

#endif /* !STALENESS_H_ */
