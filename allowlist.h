#ifndef ALLOWLIST_H_
#define ALLOWLIST_H_

#include <stddef.h>
#include <time.h>

#include "cidr.h"

/*
 * AWS's ip-ranges.json, read once at startup and validated strictly: every
 * entry of every region must be well formed, even though only the AMAZON
 * prefixes of one region are kept.
 */

#define ALLOWLIST_MAX_BYTES	(16u * 1024 * 1024)	/* file is ~2.6 MB */
#define ALLOWLIST_MAX_TOKENS	(1u << 20)		/* file has ~85k */
#define ALLOWLIST_MAX_DEPTH	4	/* top { prefixes [ { key: value */

/* Tags of allowlist prefixes (struct cidr.tag). */
#define ALLOWLIST_TAG_AWS	0	/* AMAZON prefix of the region */
#define ALLOWLIST_TAG_OPERATOR	1	/* --allow-cidr */

struct allowlist_info {
	char	sync_token[24];
	char	create_date[24];	/* "YYYY-MM-DD-hh-mm-ss", UTC */
	time_t	created;		/* create_date as seconds since epoch */
	size_t	entries;		/* v4 + v6 entries in the file */
	size_t	v4;			/* distinct AMAZON prefixes of region */
	size_t	v6;
};

/**
 * allowlist_parse(buf, len, region, set, info, err, errlen): parse the
 * ip-ranges.json document ${buf}, add the distinct AMAZON prefixes of
 * ${region} (tag ALLOWLIST_TAG_AWS) to ${set} and fill ${info}.  On a
 * malformed document return -1 with a reason in ${err}.
 */
int allowlist_parse(const char *buf, size_t len, const char *region,
    struct cidrset *set, struct allowlist_info *info, char *err,
    size_t errlen);

/**
 * allowlist_load(path, region, set, info, err, errlen): read ${path}
 * (at most ALLOWLIST_MAX_BYTES) and allowlist_parse it.
 */
int allowlist_load(const char *path, const char *region, struct cidrset *set,
    struct allowlist_info *info, char *err, size_t errlen);

#endif /* !ALLOWLIST_H_ */
