/*
 * fsops.node: the system calls a pass-through file system needs that Node's fs lacks.
 *
 *   mknod(path: string, mode: number, dev: number): undefined
 *   lgetxattr(path: string, name: string): Buffer
 *   lsetxattr(path: string, name: string, value: Buffer, flags: number): undefined
 *   llistxattr(path: string): string[]
 *   lremovexattr(path: string, name: string): undefined
 *   openat2(dirfd: number, path: string, flags: number, resolve: number): number (an fd)
 *   peerCred(fd: number): { pid, uid, gid } of a connected unix socket's peer (SO_PEERCRED)
 *
 * The l* forms never follow a final symlink: ChaosFS names backing files beneath the volume root and
 * must act on the name itself. Synchronous: one short system call each, on a local file. Errors are
 * thrown like Node's fs errors (code, negative errno, syscall, path).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <uv.h>

#include "node_errors.h"

/* Paths under /proc/self/fd/N/ plus a name of at most 255 bytes, and xattr names of at most 255. */
#define MAX_ARG 4352

static int get_string(napi_env env, napi_value v, char *buf, const char *what)
{
	size_t n;
	if (napi_get_value_string_utf8(env, v, buf, MAX_ARG, &n) != napi_ok || n >= MAX_ARG - 1) {
		char msg[96];
		snprintf(msg, sizeof msg, "%s must be a string shorter than %d bytes", what, MAX_ARG - 1);
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
		return -1;
	}
	return 0;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "fsops: too few arguments");
		return -1;
	}
	return 0;
}

static napi_value js_mknod(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	char path[MAX_ARG];
	uint32_t mode, dev;
	if (get_args(env, info, 3, argv) || get_string(env, argv[0], path, "path"))
		return NULL;
	if (napi_get_value_uint32(env, argv[1], &mode) != napi_ok ||
	    napi_get_value_uint32(env, argv[2], &dev) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mknod: mode and dev must be numbers");
		return NULL;
	}
	if (mknod(path, mode, (dev_t)dev) != 0)
		return throw_errno(env, errno, "mknod", path);
	return NULL;
}

static napi_value js_lgetxattr(napi_env env, napi_callback_info info)
{
	napi_value argv[2], result;
	char path[MAX_ARG], name[MAX_ARG];
	if (get_args(env, info, 2, argv) || get_string(env, argv[0], path, "path") ||
	    get_string(env, argv[1], name, "name"))
		return NULL;
	/* The value can grow between the size query and the read: retry on ERANGE. */
	for (int tries = 0; tries < 8; tries++) {
		ssize_t size = lgetxattr(path, name, NULL, 0);
		if (size < 0)
			return throw_errno(env, errno, "lgetxattr", path);
		void *data;
		if (napi_create_buffer(env, (size_t)size, &data, &result) != napi_ok)
			return NULL;
		ssize_t got = size == 0 ? 0 : lgetxattr(path, name, data, (size_t)size);
		if (got >= 0) {
			if (got == size)
				return result;
			napi_value sliced;
			void *copy;
			napi_create_buffer_copy(env, (size_t)got, data, &copy, &sliced);
			return sliced;
		}
		if (errno != ERANGE)
			return throw_errno(env, errno, "lgetxattr", path);
	}
	return throw_errno(env, ERANGE, "lgetxattr", path);
}

static napi_value js_lsetxattr(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	char path[MAX_ARG], name[MAX_ARG];
	void *data;
	size_t len;
	int32_t flags;
	if (get_args(env, info, 4, argv) || get_string(env, argv[0], path, "path") ||
	    get_string(env, argv[1], name, "name"))
		return NULL;
	if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok ||
	    napi_get_value_int32(env, argv[3], &flags) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "lsetxattr: value must be a Buffer, flags a number");
		return NULL;
	}
	if (lsetxattr(path, name, data, len, flags) != 0)
		return throw_errno(env, errno, "lsetxattr", path);
	return NULL;
}

static napi_value js_llistxattr(napi_env env, napi_callback_info info)
{
	napi_value argv[1], result;
	char path[MAX_ARG];
	if (get_args(env, info, 1, argv) || get_string(env, argv[0], path, "path"))
		return NULL;
	for (int tries = 0; tries < 8; tries++) {
		ssize_t size = llistxattr(path, NULL, 0);
		if (size < 0)
			return throw_errno(env, errno, "llistxattr", path);
		char *list = malloc(size ? (size_t)size : 1);
		if (!list) {
			napi_throw_error(env, "ENOMEM", "llistxattr: out of memory");
			return NULL;
		}
		ssize_t got = size == 0 ? 0 : llistxattr(path, list, (size_t)size);
		if (got < 0) {
			int e = errno;
			free(list);
			if (e == ERANGE)
				continue;
			return throw_errno(env, e, "llistxattr", path);
		}
		napi_create_array(env, &result);
		uint32_t i = 0;
		for (ssize_t at = 0; at < got; at += (ssize_t)strlen(list + at) + 1) {
			napi_value s;
			napi_create_string_utf8(env, list + at, NAPI_AUTO_LENGTH, &s);
			napi_set_element(env, result, i++, s);
		}
		free(list);
		return result;
	}
	return throw_errno(env, ERANGE, "llistxattr", path);
}

static napi_value js_lremovexattr(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char path[MAX_ARG], name[MAX_ARG];
	if (get_args(env, info, 2, argv) || get_string(env, argv[0], path, "path") ||
	    get_string(env, argv[1], name, "name"))
		return NULL;
	if (lremovexattr(path, name) != 0)
		return throw_errno(env, errno, "lremovexattr", path);
	return NULL;
}

/* openat2(2): the daemon opens a target's volume with RESOLVE_IN_ROOT, so a symlink the app swaps in
 * after the path was checked can neither be followed nor lead out of the target's root. */
static napi_value js_openat2(napi_env env, napi_callback_info info)
{
	napi_value argv[4], result;
	char path[MAX_ARG];
	int32_t dirfd, flags;
	uint32_t resolve;
	if (get_args(env, info, 4, argv) || get_string(env, argv[1], path, "path"))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &dirfd) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &flags) != napi_ok ||
	    napi_get_value_uint32(env, argv[3], &resolve) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "openat2: dirfd, flags and resolve must be numbers");
		return NULL;
	}
	struct open_how how = {.flags = (uint64_t)(uint32_t)flags, .resolve = resolve};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	if (fd < 0)
		return throw_errno(env, errno, "openat2", path);
	napi_create_int32(env, (int32_t)fd, &result);
	return result;
}

/* SO_PEERCRED: who connected to the control socket (Node's net module does not say). The kernel records
 * the peer's credentials at connect(), so a client cannot change them afterwards. */
static napi_value js_peercred(napi_env env, napi_callback_info info)
{
	napi_value argv[1], result, v;
	int32_t fd;
	if (get_args(env, info, 1, argv))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "peerCred: fd must be a number");
		return NULL;
	}
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return throw_errno(env, errno, "getsockopt(SO_PEERCRED)", NULL);
	napi_create_object(env, &result);
	napi_create_int64(env, cred.pid, &v);
	napi_set_named_property(env, result, "pid", v);
	napi_create_int64(env, cred.uid, &v);
	napi_set_named_property(env, result, "uid", v);
	napi_create_int64(env, cred.gid, &v);
	napi_set_named_property(env, result, "gid", v);
	return result;
}

static napi_value init(napi_env env, napi_value exports)
{
	const napi_property_descriptor props[] = {
		{"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
		{"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
		{"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
		{"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
		{"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
		{"openat2", NULL, js_openat2, NULL, NULL, NULL, napi_enumerable, NULL},
		{"peerCred", NULL, js_peercred, NULL, NULL, NULL, napi_enumerable, NULL},
	};
	napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
