#!/bin/sh
# Write the SPDX 2.3 JSON SBOM of one image to stdout.  Runs in the
# Dockerfile's build stage, after the image's files are in OUT:
#
#   tools/sbom.sh ARCH VERSION BUILDER_IMAGE BUILDER_IMAGE_ID OUT
#
# It names the image; its binary and ip-ranges.json (sha256, and the
# file's syncToken and createDate); the Debian packages, with the versions
# of this builder's package database (dpkg-query), that own the files the
# binary is made of (`make toolchain-files`: the compiler, musl's libc.a
# and libgcc.a, linked statically, and libseccomp, which compiled the
# seccomp filter embedded in the binary); and the builder base.  Its only
# time is SOURCE_DATE_EPOCH, so one commit's SBOM is the same bytes in
# every build.  Exits 1, naming the file, when a file or package is missing.
set -eu

[ $# -eq 5 ] || { echo "usage: $0 ARCH VERSION BUILDER_IMAGE BUILDER_IMAGE_ID OUT" >&2; exit 2; }
arch=$1 version=$2 base=$3 base_id=$4 out=$5
bin=$out/ses-smtp-proxy
ranges=$out/etc/ses-smtp-proxy/ip-ranges.json

die() { echo "sbom: $*" >&2; exit 1; }

# json_safe VALUE: VALUE goes into a JSON string as it is.
json_safe() {
	case "$1" in *[\"\\]*) die "value $1 has a quote or backslash" ;; esac
	printf '%s' "$1"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
sha1() { sha1sum "$1" | cut -d' ' -f1; }
# ranges_field NAME: the string value of the top-level NAME in $ranges.
ranges_field() {
	v=$(head -c 4096 "$ranges" | tr -d '\n' |
	    sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p")
	[ -n "$v" ] || die "$ranges has no $1"
	json_safe "$v"
}

for f in "$bin" "$ranges"; do [ -f "$f" ] || die "$f is missing"; done
created=$(date -u -d "@${SOURCE_DATE_EPOCH:-0}" +%Y-%m-%dT%H:%M:%SZ)
bin_sha=$(sha "$bin")
sync=$(ranges_field syncToken)
cdate=$(ranges_field createDate)
# createDate is YYYY-MM-DD-hh-mm-ss (UTC): SPDX's releaseDate form.
rdate=$(echo "$cdate" |
    sed -n 's/^\(....-..-..\)-\(..\)-\(..\)-\(..\)$/\1T\2:\3:\4Z/p')
[ -n "$rdate" ] || die "createDate $cdate is not YYYY-MM-DD-hh-mm-ss"
debver=$(cat /etc/debian_version)

# deb_package ID ROLE PURPOSE RELATION PATH: one package entry, the Debian
# package owning PATH; its relationship to the binary goes to $rels.
rels=
deb_package() {
	real=$(realpath "$5") || die "$2 file $5 is missing"
	owner=$(dpkg-query -S "$real" 2>/dev/null | head -1 | sed 's/: .*//')
	[ -n "$owner" ] || die "no Debian package owns $real ($2)"
	name=${owner%%:*}
	ver=$(dpkg-query -W -f '${Version}' "$owner") ||
	    die "dpkg-query knows no $owner"
	parch=$(dpkg-query -W -f '${Architecture}' "$owner")
	printf '    {"SPDXID": "SPDXRef-Package-%s", "name": "%s",\n' "$1" \
	    "$(json_safe "$name")"
	printf '     "versionInfo": "%s", "supplier": "Organization: Debian",\n' \
	    "$(json_safe "$ver")"
	printf '     "downloadLocation": "NOASSERTION", "filesAnalyzed": false,\n'
	printf '     "primaryPackagePurpose": "%s",\n' "$3"
	printf '     "comment": "%s: %s",\n' "$2" "$(json_safe "$real")"
	printf '     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER",'
	printf ' "referenceType": "purl", "referenceLocator":'
	printf ' "pkg:deb/debian/%s@%s?arch=%s&distro=debian-%s"}]},\n' \
	    "$name" "$ver" "$parch" "$debver"
	rels="$rels    {\"spdxElementId\": \"$4\", \"relationshipType\": \"$6\","
	rels="$rels \"relatedSpdxElement\": \"$7\"},
"
}

files=$(make -s --no-print-directory ARCH="$arch" toolchain-files) ||
    die "make ARCH=$arch toolchain-files failed"
path_of() {
	p=$(echo "$files" | sed -n "s/^$1 //p")
	[ -n "$p" ] || die "make toolchain-files names no $1"
	echo "$p"
}

cat <<EOT
{
  "spdxVersion": "SPDX-2.3",
  "dataLicense": "CC0-1.0",
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "ses-smtp-proxy-$(json_safe "$version")-linux-$arch",
  "documentNamespace": "https://spdx.org/spdxdocs/ses-smtp-proxy-$(json_safe "$version")-linux-$arch-$bin_sha",
  "creationInfo": {
    "created": "$created",
    "creators": ["Tool: ses-smtp-proxy tools/sbom.sh"]
  },
  "documentDescribes": ["SPDXRef-Package-image"],
  "packages": [
    {"SPDXID": "SPDXRef-Package-image", "name": "ses-smtp-proxy",
     "versionInfo": "$(json_safe "$version")",
     "downloadLocation": "NOASSERTION", "filesAnalyzed": false,
     "primaryPackagePurpose": "CONTAINER",
     "comment": "FROM scratch image for linux/$arch"},
    {"SPDXID": "SPDXRef-Package-ip-ranges", "name": "aws-ip-ranges",
     "versionInfo": "$sync", "releaseDate": "$rdate",
     "supplier": "Organization: Amazon Web Services",
     "downloadLocation": "https://ip-ranges.amazonaws.com/ip-ranges.json",
     "filesAnalyzed": false, "primaryPackagePurpose": "FILE",
     "checksums": [{"algorithm": "SHA256", "checksumValue": "$(sha "$ranges")"}],
     "comment": "/etc/ses-smtp-proxy/ip-ranges.json: syncToken $sync, createDate $cdate"},
    {"SPDXID": "SPDXRef-Package-builder-base", "name": "$(json_safe "$base")",
     "versionInfo": "$(json_safe "$debver")",
     "supplier": "Organization: Debian",
     "downloadLocation": "NOASSERTION", "filesAnalyzed": false,
     "primaryPackagePurpose": "OPERATING_SYSTEM",
     "comment": "builder base image $(json_safe "$base_id") (Debian $(json_safe "$debver"))"},
EOT
deb_package compiler compiler APPLICATION SPDXRef-Package-compiler \
    "$(path_of compiler)" BUILD_TOOL_OF SPDXRef-File-binary
deb_package musl "musl libc.a, linked statically" LIBRARY \
    SPDXRef-File-binary "$(path_of musl)" STATIC_LINK SPDXRef-Package-musl
deb_package libgcc "libgcc.a, linked statically" LIBRARY \
    SPDXRef-File-binary "$(path_of libgcc)" STATIC_LINK SPDXRef-Package-libgcc
deb_package libseccomp \
    "libseccomp, which compiled the seccomp filter embedded in the binary" \
    LIBRARY SPDXRef-Package-libseccomp "$(path_of libseccomp)" \
    BUILD_TOOL_OF SPDXRef-File-binary
cat <<EOT
    {"SPDXID": "SPDXRef-Package-source", "name": "ses-smtp-proxy-source",
     "versionInfo": "$(json_safe "$version")",
     "downloadLocation": "NOASSERTION", "filesAnalyzed": false,
     "primaryPackagePurpose": "SOURCE"}
  ],
  "files": [
    {"SPDXID": "SPDXRef-File-binary", "fileName": "./ses-smtp-proxy",
     "fileTypes": ["BINARY"],
     "checksums": [{"algorithm": "SHA256", "checksumValue": "$bin_sha"},
                   {"algorithm": "SHA1", "checksumValue": "$(sha1 "$bin")"}],
     "comment": "static-pie ELF for linux/$arch"}
  ],
  "relationships": [
    {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Package-image"},
    {"spdxElementId": "SPDXRef-Package-image", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-File-binary"},
    {"spdxElementId": "SPDXRef-Package-image", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-Package-ip-ranges"},
    {"spdxElementId": "SPDXRef-File-binary", "relationshipType": "GENERATED_FROM", "relatedSpdxElement": "SPDXRef-Package-source"},
    {"spdxElementId": "SPDXRef-Package-builder-base", "relationshipType": "BUILD_TOOL_OF", "relatedSpdxElement": "SPDXRef-File-binary"},
$rels    {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-File-binary"}
  ]
}
EOT
