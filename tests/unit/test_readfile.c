#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "readfile.h"

static char dir[] = "/tmp/test_readfile.XXXXXX";
static char path[sizeof(dir) + 16];

/* ${path} becomes a file of ${len} bytes of ${text}. */
static void
make_file(const char *name, const char *text, size_t len)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || fwrite(text, 1, len, f) != len ||
	    fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

static void
test_regular(void)
{
	char err[128], mine[8], *buf;
	size_t len;

	make_file("ten", "0123456789", 10);

	TEST_START("readfile: a regular file, into a new buffer");
	buf = NULL;
	len = 99;
	if (ASSERT_INT_EQ(readfile(path, 10, 0, &buf, &len, err,
	    sizeof(err)), 0) && ASSERT_PTR_NONNULL(buf)) {
		ASSERT_SIZE_EQ(len, 10);
		ASSERT_STR_EQ(buf, "0123456789");
	}
	free(buf);
	TEST_DONE();

	TEST_START("readfile: a file over the cap is refused");
	buf = NULL;
	err[0] = '\0';
	errno = 0;
	ASSERT_INT_EQ(readfile(path, 9, 0, &buf, &len, err, sizeof(err)), -1);
	ASSERT_INT_EQ(errno, EFBIG);
	ASSERT_STR_EQ(err, "larger than 9 bytes");
	ASSERT_PTR_NULL(buf);
	TEST_DONE();

	TEST_START("readfile: READFILE_PREFIX, the caller's buffer");
	memset(mine, '#', sizeof(mine));
	buf = mine;
	if (ASSERT_INT_EQ(readfile(path, 6, READFILE_PREFIX, &buf, &len, err,
	    sizeof(err)), 0)) {
		ASSERT_PTR_EQ(buf, mine);
		ASSERT_SIZE_EQ(len, 6);
		ASSERT_STR_EQ(mine, "012345");
		ASSERT_INT_EQ(mine[7], '#');
	}
	TEST_DONE();

	TEST_START("readfile: READFILE_PREFIX, a file within the cap");
	memset(mine, '#', sizeof(mine));
	make_file("three", "abc", 3);
	buf = mine;
	if (ASSERT_INT_EQ(readfile(path, 7, READFILE_PREFIX, &buf, &len, err,
	    sizeof(err)), 0)) {
		ASSERT_SIZE_EQ(len, 3);
		ASSERT_STR_EQ(mine, "abc");
		ASSERT_INT_EQ(mine[4], '#');
	}
	TEST_DONE();

	TEST_START("readfile: an empty file");
	make_file("empty", "", 0);
	buf = NULL;
	if (ASSERT_INT_EQ(readfile(path, 10, 0, &buf, &len, err,
	    sizeof(err)), 0) && ASSERT_PTR_NONNULL(buf)) {
		ASSERT_SIZE_EQ(len, 0);
		ASSERT_STR_EQ(buf, "");
	}
	free(buf);
	TEST_DONE();
}

/* ${file} is refused with errno ${e} and the reason ${want}. */
static void
refused(const char *what, const char *file, int e, const char *want)
{
	char err[128], *buf = NULL;
	size_t len;

	TEST_START("readfile refuses %s", what);
	err[0] = '\0';
	errno = 0;
	ASSERT_INT_EQ(readfile(file, 1024, READFILE_PREFIX, &buf, &len, err,
	    sizeof(err)), -1);
	ASSERT_INT_EQ(errno, e);
	ASSERT_STR_EQ(err, want);
	ASSERT_PTR_NULL(buf);
	TEST_DONE();
}

static void
test_refused(void)
{
	char fifo[sizeof(path)];

	snprintf(path, sizeof(path), "%s/missing", dir);
	refused("a missing file", path, ENOENT,
	    "open: No such file or directory");
	refused("a directory", dir, EINVAL, "not a regular file");
	refused("a character device", "/dev/zero", EINVAL,
	    "not a regular file");

	/* Opening a FIFO for reading blocks until a writer comes. */
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	if (mkfifo(fifo, 0600) != 0) {
		perror(fifo);
		exit(2);
	}
	alarm(60);	/* a hang is a failure, not a stuck test run */
	refused("a FIFO, without blocking", fifo, EINVAL,
	    "not a regular file");
	alarm(0);
	unlink(fifo);

	/* procfs: st_size 0, yet read gives bytes. */
	refused("a file that grew while read", "/proc/self/status", EIO,
	    "file changed while being read");
}

/* sysfs: st_size 4096, yet read gives a few bytes. */
static void
test_shrunk(void)
{
	const char *f = "/sys/devices/system/cpu/online";
	struct stat st;

	if (stat(f, &st) != 0 || st.st_size != 4096) {
		printf("test_readfile: %s is missing or not 4096 bytes by stat: "
		    "the shrink case is not run\n", f);
		return;
	}
	refused("a file that shrank while read", f, EIO,
	    "file changed while being read");
}

int
main(void)
{

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (2);
	}
	test_regular();
	test_refused();
	test_shrunk();
	snprintf(path, sizeof(path), "%s/ten", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/three", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/empty", dir);
	unlink(path);
	rmdir(dir);
	return (test_summary());
}
