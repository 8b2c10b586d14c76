/*
 * utimens.node: utimensat(2) for ChaosFS, with nanosecond times as BigInt.
 *
 *   utimensat(dirfd: number, path: string | null, atime, mtime, flags: number): undefined
 *   atime/mtime: bigint nanoseconds since the epoch, or 'now', or 'omit'
 *   dirfd: -100 for AT_FDCWD; path null: the file dirfd itself (futimens)
 *
 * Node's fs.utimes takes float seconds and cannot say "leave this one alone"
 * (UTIME_OMIT); a pass-through file system needs both. Synchronous on purpose:
 * one system call, no thread pool hop. Throws an Error with code/errno/syscall
 * like Node's fs errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "node_errors.h"

#define CHECK(call)                                                                              \
	do {                                                                                     \
		if ((call) != napi_ok) {                                                         \
			napi_throw_error(env, "EINVAL", "utimens: bad argument");                \
			return NULL;                                                             \
		}                                                                                \
	} while (0)

static int get_time(napi_env env, napi_value v, struct timespec *ts, const char *which)
{
	napi_valuetype t;
	if (napi_typeof(env, v, &t) != napi_ok)
		return -1;
	if (t == napi_string) {
		char s[8];
		size_t n;
		if (napi_get_value_string_utf8(env, v, s, sizeof s, &n) != napi_ok)
			return -1;
		if (!strcmp(s, "now")) {
			ts->tv_sec = 0;
			ts->tv_nsec = UTIME_NOW;
			return 0;
		}
		if (!strcmp(s, "omit")) {
			ts->tv_sec = 0;
			ts->tv_nsec = UTIME_OMIT;
			return 0;
		}
	} else if (t == napi_bigint) {
		int64_t ns;
		bool lossless;
		if (napi_get_value_bigint_int64(env, v, &ns, &lossless) != napi_ok || !lossless)
			goto bad;
		/* Floor division, so times before 1970 get a non-negative tv_nsec. */
		int64_t sec = ns / 1000000000, rem = ns % 1000000000;
		if (rem < 0) {
			rem += 1000000000;
			sec -= 1;
		}
		ts->tv_sec = (time_t)sec;
		ts->tv_nsec = (long)rem;
		return 0;
	}
bad: {
	char msg[128];
	snprintf(msg, sizeof msg, "utimensat: %s must be a bigint (ns) that fits 64 bits, 'now' or 'omit'",
		 which);
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
	return -1;
}
}

static napi_value js_utimensat(napi_env env, napi_callback_info info)
{
	size_t argc = 5;
	napi_value argv[5];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc != 5) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
				      "utimensat(dirfd, path|null, atime, mtime, flags)");
		return NULL;
	}
	int32_t dirfd, flags;
	CHECK(napi_get_value_int32(env, argv[0], &dirfd));
	CHECK(napi_get_value_int32(env, argv[4], &flags));
	napi_valuetype pt;
	CHECK(napi_typeof(env, argv[1], &pt));
	char *path = NULL;
	if (pt == napi_string) {
		size_t len;
		CHECK(napi_get_value_string_utf8(env, argv[1], NULL, 0, &len));
		path = malloc(len + 1);
		if (!path) {
			napi_throw_error(env, "ENOMEM", "utimensat: out of memory");
			return NULL;
		}
		CHECK(napi_get_value_string_utf8(env, argv[1], path, len + 1, &len));
	} else if (pt != napi_null) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "utimensat: path must be a string or null");
		return NULL;
	}
	struct timespec ts[2];
	if (get_time(env, argv[2], &ts[0], "atime") || get_time(env, argv[3], &ts[1], "mtime")) {
		free(path);
		return NULL;
	}
	int rc = path ? utimensat(dirfd, path, ts, flags) : futimens(dirfd, ts);
	if (rc != 0) {
		int e = errno;
		throw_errno(env, e, "utimensat", path);
		free(path);
		return NULL;
	}
	free(path);
	return NULL;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_value fn, c;
	napi_create_function(env, "utimensat", NAPI_AUTO_LENGTH, js_utimensat, NULL, &fn);
	napi_set_named_property(env, exports, "utimensat", fn);
	napi_create_int32(env, AT_FDCWD, &c);
	napi_set_named_property(env, exports, "AT_FDCWD", c);
	napi_create_int32(env, AT_SYMLINK_NOFOLLOW, &c);
	napi_set_named_property(env, exports, "AT_SYMLINK_NOFOLLOW", c);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
