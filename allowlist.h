#ifndef ALLOWLIST_H_
#define ALLOWLIST_H_

#include <stddef.h>
#include <time.h>

#include "cidr.h"

/*
 * AWS's ip-ranges.json, read once at startup and validated strictly: every
 * entry of every region must be well formed, even though only the AMAZON
 * prefixes of one region are kept.  Keys the relay does not know, at the
 * top level or in an entry, are skipped whatever their value and counted,
 * so that a field AWS adds does not stop startup; a known key must still
 * appear once, with the right type and a valid value.
 */

#define ALLOWLIST_MAX_BYTES	(16u * 1024 * 1024)	/* file is ~2.6 MB */
#define ALLOWLIST_MAX_TOKENS	(1u << 20)		/* file has ~85k */
/*
 * top { prefixes [ { key: value needs 4 levels.  Two more leave room for a
 * structured field AWS may add to an entry ("tags": [{"k": "v"}]), and
 * five below a new top-level key; the token cap bounds the rest.
 */
#define ALLOWLIST_MAX_DEPTH	6

/* Tags of allowlist prefixes (struct cidr.tag). */
#define ALLOWLIST_TAG_AWS	0	/* AMAZON prefix of the region */
#define ALLOWLIST_TAG_OPERATOR	1	/* --allow-cidr */
#define ALLOWLIST_TAG_VPCE	2	/* --vpc-endpoint-cidrs */

struct allowlist_info {
	char	sync_token[24];
	char	create_date[24];	/* "YYYY-MM-DD-hh-mm-ss", UTC */
	time_t	created;		/* create_date as seconds since epoch */
	size_t	entries;		/* v4 + v6 entries in the file */
	size_t	v4;			/* distinct AMAZON prefixes of region */
	size_t	v6;
	size_t	ignored_top_keys;	/* unknown top-level keys skipped */
	size_t	ignored_entry_keys;	/* unknown entry keys, all entries */
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
 * allowlist_endpoint_only(set): does ${set} hold --vpc-endpoint-cidrs
 * prefixes (endpoint-only mode, where it holds nothing else)?
 */
int allowlist_endpoint_only(const struct cidrset *set);

/**
 * allowlist_scope(set): what ${set} allows, for the reason of a denial:
 * "the AMAZON prefixes of the region and --allow-cidr", or in
 * endpoint-only mode "--vpc-endpoint-cidrs".
 */
const char *allowlist_scope(const struct cidrset *set);

/**
 * allowlist_load(path, region, set, info, err, errlen): read the regular
 * file ${path} (readfile, at most ALLOWLIST_MAX_BYTES) and allowlist_parse
 * it.  On failure return -1 with the reason in ${err}.
 */
int allowlist_load(const char *path, const char *region, struct cidrset *set,
    struct allowlist_info *info, char *err, size_t errlen);

#endif /* !ALLOWLIST_H_ */
