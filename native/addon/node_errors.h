/*
 * Errors thrown the way Node's fs throws them (code, negative errno, syscall, path), so that callers
 * handle an addon's failure exactly like an fs one. Shared by the addons.
 */
#ifndef IOCHAOS_NODE_ERRORS_H
#define IOCHAOS_NODE_ERRORS_H

#include <node_api.h>
#include <stdio.h>
#include <uv.h>

static inline napi_value throw_errno(napi_env env, int e, const char *syscall, const char *path)
{
	char msg[4400];
	snprintf(msg, sizeof msg, "%s: %s, %s '%s'", uv_err_name(-e), uv_strerror(-e), syscall,
		 path ? path : "");
	napi_value code, m, err, num, sys, p;
	napi_create_string_utf8(env, uv_err_name(-e), NAPI_AUTO_LENGTH, &code);
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
	napi_create_error(env, code, m, &err);
	napi_create_int32(env, -e, &num);
	napi_set_named_property(env, err, "errno", num);
	napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
	napi_set_named_property(env, err, "syscall", sys);
	if (path) {
		napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &p);
		napi_set_named_property(env, err, "path", p);
	}
	napi_throw(env, err);
	return NULL;
}

#endif
