/*
 * The N-API side: mounting a session, libfuse's multi-threaded loop on a thread of its own, the op
 * mask, cache invalidation, and showing calls to JavaScript.
 *
 * A call JS wants is handed over with a threadsafe function and its FUSE thread waits for the answer
 * (libfuse starts more threads while some wait, up to maxThreads, so one slow answer never holds up
 * another call). The data JS sees are copies: a handler that keeps a Buffer after answering holds its
 * own memory, never libfuse's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "delay.h"
#include "fs.h"
#include "glob.h"
#include "rules.h"

struct session {
  struct fs fs;
  char *mountpoint;
  pthread_t loop;
  int loop_started;
  _Atomic int loop_ended;
  int max_threads;
  dev_t device;
  napi_threadsafe_function tsfn;
  int closed;
};

#define CHECK(env, call)                                                                                     \
  do {                                                                                                       \
    if ((call) != napi_ok) {                                                                                 \
      const napi_extended_error_info *info;                                                                  \
      napi_get_last_error_info((env), &info);                                                                \
      napi_throw_error((env), NULL, info && info->error_message ? info->error_message : "napi call failed"); \
      return NULL;                                                                                           \
    }                                                                                                        \
  } while (0)

static napi_value throw_error(napi_env env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static napi_value throw_error(napi_env env, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* ---- calls shown to JavaScript ------------------------------------------------------------------ */

static void answer(struct js_call *c, int err, int want_after) {
  pthread_mutex_lock(&c->lock);
  c->err = err;
  c->want_after = want_after;
  c->answered = 1;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->lock);
}

/* The `done` callback's data: the call until it is answered, then NULL (a second answer is ignored). */
struct token {
  struct js_call *call;
};

static void free_token(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static int get_i64(napi_env env, napi_value obj, const char *key, int64_t *out) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_int64(env, v, out, &lossless) == napi_ok ? 0 : -1;
  }
  if (t == napi_number) return napi_get_value_int64(env, v, out) == napi_ok ? 0 : -1;
  return -1;
}

static void set_i64(napi_env env, napi_value obj, const char *key, int64_t value, int bigint) {
  napi_value v;
  if (bigint)
    napi_create_bigint_int64(env, value, &v);
  else
    napi_create_int64(env, value, &v);
  napi_set_named_property(env, obj, key, v);
}

static int64_t ns_of(struct timespec ts) {
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ts_of(int64_t ns) {
  struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
  if (ts.tv_nsec < 0) {
    ts.tv_sec--;
    ts.tv_nsec += 1000000000;
  }
  return ts;
}

/* The attributes in the shape the rules use (sidecar/faults/fault.ts's Attributes). */
static napi_value attr_object(napi_env env, const struct stat *st) {
  napi_value o;
  napi_create_object(env, &o);
  set_i64(env, o, "ino", (int64_t)st->st_ino, 1);
  set_i64(env, o, "mode", st->st_mode, 0);
  set_i64(env, o, "nlink", (int64_t)st->st_nlink, 1);
  set_i64(env, o, "uid", st->st_uid, 0);
  set_i64(env, o, "gid", st->st_gid, 0);
  set_i64(env, o, "rdev", (int64_t)st->st_rdev, 1);
  set_i64(env, o, "size", st->st_size, 1);
  set_i64(env, o, "blksize", st->st_blksize, 1);
  set_i64(env, o, "blocks", st->st_blocks, 1);
  set_i64(env, o, "atimeNs", ns_of(st->st_atim), 1);
  set_i64(env, o, "mtimeNs", ns_of(st->st_mtim), 1);
  set_i64(env, o, "ctimeNs", ns_of(st->st_ctim), 1);
  return o;
}

static int read_attr(napi_env env, napi_value o, struct stat *st) {
  int64_t v[12];
  static const char *const keys[12] = {"ino",  "mode",    "nlink",  "uid",     "gid",     "rdev",
                                       "size", "blksize", "blocks", "atimeNs", "mtimeNs", "ctimeNs"};
  for (int k = 0; k < 12; k++)
    if (get_i64(env, o, keys[k], &v[k]) != 0) return -1;
  st->st_ino = (ino_t)v[0];
  st->st_mode = (mode_t)v[1];
  st->st_nlink = (nlink_t)v[2];
  st->st_uid = (uid_t)v[3];
  st->st_gid = (gid_t)v[4];
  st->st_rdev = (dev_t)v[5];
  st->st_size = v[6];
  st->st_blksize = v[7];
  st->st_blocks = v[8];
  st->st_atim = ts_of(v[9]);
  st->st_mtim = ts_of(v[10]);
  st->st_ctim = ts_of(v[11]);
  return 0;
}

/* Free blocks a rule reported (only lowered: a rule cannot make room that is not there). */
static int read_space(napi_env env, napi_value o, struct statvfs *sv) {
  int64_t bfree, bavail;
  if (get_i64(env, o, "bfree", &bfree) != 0 || get_i64(env, o, "bavail", &bavail) != 0) return -1;
  if (bfree >= 0 && (uint64_t)bfree < sv->f_bfree) sv->f_bfree = (fsblkcnt_t)bfree;
  if (bavail >= 0 && (uint64_t)bavail < sv->f_bavail) sv->f_bavail = (fsblkcnt_t)bavail;
  return 0;
}

/* done(errno, wantAfter, data?, attr?, space?): errno 0 = go on, negative = fail the call with it. */
static napi_value done_cb(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  struct token *t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&t) != napi_ok || !t || !t->call) return NULL;
  struct js_call *c = t->call;
  t->call = NULL;
  int64_t code = 0;
  int err = 0, want_after = 0;
  napi_valuetype type = napi_undefined;
  if (argc > 0) napi_typeof(env, argv[0], &type);
  if (type == napi_number) {
    napi_get_value_int64(env, argv[0], &code);
    err = code == 0 ? 0 : (code < 0 && code >= -4095 ? (int)-code : EIO);
  } else if (type != napi_undefined && type != napi_null) {
    err = EIO;
  }
  if (argc > 1) {
    bool b = false;
    if (napi_get_value_bool(env, argv[1], &b) == napi_ok) want_after = b;
  }
  if (!err && argc > 2 && c->data) {
    bool is_buffer = false;
    napi_is_buffer(env, argv[2], &is_buffer);
    if (is_buffer) {
      void *p;
      size_t len;
      napi_get_buffer_info(env, argv[2], &p, &len);
      memcpy(c->data, p, len < c->data_len ? len : c->data_len);
    }
  }
  if (!err && argc > 3 && c->attr) {
    napi_typeof(env, argv[3], &type);
    if (type == napi_object && read_attr(env, argv[3], c->attr) != 0) err = EIO;
  }
  if (!err && argc > 4 && c->space) {
    napi_typeof(env, argv[4], &type);
    if (type == napi_object && read_space(env, argv[4], c->space) != 0) err = EIO;
  }
  answer(c, err, want_after);
  return NULL;
}

static napi_value call_object(napi_env env, struct js_call *c) {
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, op_names[c->op], NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "op", v);
  napi_get_boolean(env, c->after, &v);
  napi_set_named_property(env, o, "after", v);
  set_i64(env, o, "id", (int64_t)c->id, 0);
  napi_create_string_utf8(env, c->path, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "path", v);
  set_i64(env, o, "ino", (int64_t)c->ino, 1);
  set_i64(env, o, "offset", c->offset, 0);
  set_i64(env, o, "length", (int64_t)c->length, 0);
  if (c->data) {
    void *p;
    napi_create_buffer_copy(env, c->data_len, c->data, &p, &v);
    napi_set_named_property(env, o, "data", v);
  }
  if (c->attr) napi_set_named_property(env, o, "attr", attr_object(env, c->attr));
  napi_value fired;
  uint32_t nfired = 0;
  napi_create_array(env, &fired);
  for (int k = 0; k < MAX_RULES; k++) {
    if (!((c->rules >> k) & 1)) continue;
    napi_create_int32(env, k, &v);
    napi_set_element(env, fired, nfired++, v);
  }
  napi_set_named_property(env, o, "rules", fired);
  if (c->size >= 0) set_i64(env, o, "size", c->size, 0);
  if (c->size_before >= 0) set_i64(env, o, "sizeBefore", c->size_before, 0);
  if (c->space) {
    napi_value sp;
    napi_create_object(env, &sp);
    set_i64(env, sp, "bsize", (int64_t)(c->space->f_frsize ? c->space->f_frsize : c->space->f_bsize), 0);
    set_i64(env, sp, "bfree", (int64_t)c->space->f_bfree, 0);
    set_i64(env, sp, "bavail", (int64_t)c->space->f_bavail, 0);
    napi_set_named_property(env, o, "space", sp);
  }
  if (c->after) set_i64(env, o, "result", c->result, 0);
  return o;
}

static void call_js(napi_env env, napi_value dispatch, void *context, void *data) {
  (void)context;
  struct js_call *c = data;
  if (!env) { /* the session is closing: the call goes on natively */
    answer(c, 0, 0);
    return;
  }
  struct token *t = malloc(sizeof *t);
  napi_value done, argv[2], undefined, ignored;
  if (!t || napi_create_function(env, "done", NAPI_AUTO_LENGTH, done_cb, t, &done) != napi_ok) {
    free(t);
    answer(c, EIO, 0);
    return;
  }
  t->call = c;
  napi_add_finalizer(env, done, t, free_token, NULL, NULL);
  argv[0] = call_object(env, c);
  argv[1] = done;
  napi_get_undefined(env, &undefined);
  if (napi_call_function(env, undefined, dispatch, 2, argv, &ignored) != napi_ok) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    if (t->call) { /* the dispatcher threw before answering */
      t->call = NULL;
      answer(c, EIO, 0);
    }
  }
}

static int ask_js(struct fs *fs, struct js_call *c) {
  struct session *s = (struct session *)fs->bridge;
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->cond, NULL);
  c->answered = 0;
  int rc = -1;
  if (napi_call_threadsafe_function(s->tsfn, c, napi_tsfn_blocking) == napi_ok) {
    pthread_mutex_lock(&c->lock);
    while (!c->answered) pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    rc = 0;
  }
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->cond);
  return rc;
}

/* ---- the session -------------------------------------------------------------------------------- */

/*
 * libfuse 3.14 cannot ask the kernel for FUSE_DIRECT_IO_ALLOW_MMAP (INIT flag bit 36, Linux 6.6+),
 * without which a file opened direct_io cannot be mapped MAP_SHARED (ENODEV). The device's writes go
 * through this hook, which adds the bit to the first message libfuse writes: its INIT reply (nothing
 * else can be written before INIT is answered). Only a successful reply of protocol 7.x with room for
 * flags2 is touched; anything else is written as it is.
 */
#define INIT_EXT (1u << 30)
#define ALLOW_MMAP_IN_FLAGS2 (1u << (36 - 32))

static ssize_t device_read(int fd, void *buf, size_t len, void *userdata) {
  (void)userdata;
  return read(fd, buf, len);
}

static ssize_t device_writev(int fd, struct iovec *iov, int count, void *userdata) {
  struct fs *fs = userdata;
  if (!atomic_exchange(&fs->init_answered, 1) && count >= 2 && iov[0].iov_len >= 16 && iov[1].iov_len >= 36) {
    int32_t error;
    uint32_t major, flags, flags2;
    memcpy(&error, (char *)iov[0].iov_base + 4, 4);
    memcpy(&major, iov[1].iov_base, 4);
    if (error == 0 && major == 7) {
      memcpy(&flags, (char *)iov[1].iov_base + 12, 4);
      memcpy(&flags2, (char *)iov[1].iov_base + 32, 4);
      flags |= INIT_EXT;
      flags2 |= ALLOW_MMAP_IN_FLAGS2;
      memcpy((char *)iov[1].iov_base + 12, &flags, 4);
      memcpy((char *)iov[1].iov_base + 32, &flags2, 4);
    }
  }
  /* A reply to a call a delay rule fired on: held by the timer thread until its deadline. */
  int64_t deadline = delay_take();
  if (deadline && fs->delays) {
    ssize_t n = delay_hold(fs->delays, fd, iov, count, deadline);
    if (n >= 0) return n;
  }
  return writev(fd, iov, count);
}

static const struct fuse_custom_io device_io = {.read = device_read, .writev = device_writev};

static void *loop_main(void *arg) {
  struct session *s = arg;
  struct fuse_loop_config *cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  fuse_loop_cfg_set_max_threads(cfg, (unsigned)s->max_threads);
  fuse_loop_cfg_set_idle_threads(cfg, 10);
  fuse_session_loop_mt(s->fs.se, cfg);
  fuse_loop_cfg_destroy(cfg);
  atomic_store(&s->loop_ended, 1);
  return NULL;
}

static char *get_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static void session_free(struct session *s) {
  delay_stop(s->fs.delays);
  if (s->fs.se) fuse_session_destroy(s->fs.se);
  if (s->fs.buckets) fs_destroy(&s->fs);
  free(s->mountpoint);
  free(s);
}

/*
 * mount(rootFd, mountpoint, options: string[], attrTimeout, entryTimeout, maxThreads, dispatch)
 * -> session, with no rules (setRules adds them). The kernel's INIT is answered by the loop thread; the mount is usable when this returns.
 */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return throw_error(env, "mount: 7 arguments expected");
  int32_t root_fd, max_threads;
  double attr_timeout, entry_timeout;
  uint32_t nopts;
  CHECK(env, napi_get_value_int32(env, argv[0], &root_fd));
  CHECK(env, napi_get_array_length(env, argv[2], &nopts));
  CHECK(env, napi_get_value_double(env, argv[3], &attr_timeout));
  CHECK(env, napi_get_value_double(env, argv[4], &entry_timeout));
  CHECK(env, napi_get_value_int32(env, argv[5], &max_threads));

  struct session *s = calloc(1, sizeof *s);
  if (!s) return throw_error(env, "out of memory");
  s->mountpoint = get_string(env, argv[1]);
  s->max_threads = max_threads;
  char err[256];
  if (!s->mountpoint) snprintf(err, sizeof err, "bad mountpoint");
  if (!s->mountpoint || fs_init(&s->fs, root_fd, err, sizeof err) != 0) {
    free(s->mountpoint);
    free(s);
    return throw_error(env, "mount: %s", err);
  }
  s->fs.attr_timeout = attr_timeout;
  s->fs.entry_timeout = entry_timeout;
  s->fs.ask_js = ask_js;
  s->fs.bridge = s;

  char **args = calloc(2 * nopts + 2, sizeof *args);
  int nargs = 0;
  args[nargs++] = strdup("iochaos-fuse3");
  for (uint32_t k = 0; k < nopts; k++) {
    napi_value v;
    napi_get_element(env, argv[2], k, &v);
    args[nargs++] = strdup("-o");
    args[nargs++] = get_string(env, v);
  }
  struct fuse_args fargs = FUSE_ARGS_INIT(nargs, args);
  s->fs.se = fuse_session_new(&fargs, &fs_ops, sizeof fs_ops, &s->fs);
  fuse_opt_free_args(&fargs);
  for (int k = 0; k < nargs; k++) free(args[k]);
  free(args);
  if (!s->fs.se) {
    session_free(s);
    return throw_error(env, "libfuse refused the options (its message is on stderr)");
  }
  if (fuse_session_mount(s->fs.se, s->mountpoint) != 0) {
    napi_value e = throw_error(env, "cannot mount at %s (libfuse's message is on stderr)", s->mountpoint);
    session_free(s);
    return e;
  }
  int dev_fd = fuse_session_fd(s->fs.se);
  fcntl(dev_fd, F_SETFD, fcntl(dev_fd, F_GETFD) | FD_CLOEXEC);
  if (fuse_session_custom_io(s->fs.se, &device_io, dev_fd) != 0) {
    fuse_session_unmount(s->fs.se);
    session_free(s);
    return throw_error(env, "cannot hook the device's writes");
  }

  napi_value name;
  napi_create_string_utf8(env, "fuse3-dispatch", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[6], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &s->tsfn) !=
      napi_ok) {
    fuse_session_unmount(s->fs.se);
    session_free(s);
    return throw_error(env, "cannot create the dispatch function");
  }
  /* A mount whose session is idle must not keep Node alive by itself; close() ends it. */
  napi_unref_threadsafe_function(env, s->tsfn);
  s->fs.inval = inval_start(s->fs.se);
  s->fs.delays = delay_start();
  if (pthread_create(&s->loop, NULL, loop_main, s) != 0) {
    inval_stop(s->fs.inval);
    fuse_session_unmount(s->fs.se);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    session_free(s);
    return throw_error(env, "cannot start the session thread");
  }
  s->loop_started = 1;
  /* The connection's device, served natively (there are no rules yet): close() finds moved mounts by it. */
  struct stat st;
  if (stat(s->mountpoint, &st) == 0) s->device = st.st_dev;

  napi_value handle;
  CHECK(env, napi_create_external(env, s, NULL, NULL, &handle));
  return handle;
}

static struct session *session_of(napi_env env, napi_value v) {
  struct session *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok || !s || s->closed) {
    napi_throw_error(env, NULL, "the session is closed");
    return NULL;
  }
  return s;
}

static int get_double(napi_env env, napi_value obj, const char *key, double dflt, double *out) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined) {
    *out = dflt;
    return 0;
  }
  return t == napi_number && napi_get_value_double(env, v, out) == napi_ok ? 0 : -1;
}

/* A glob from a JS string; NULL with the reason in `err` (undefined / null: every path, *none = 1). */
static struct glob *glob_of(napi_env env, napi_value v, int *none, char *err, size_t errlen) {
  napi_valuetype t;
  *none = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t == napi_undefined || t == napi_null) {
    *none = 1;
    return NULL;
  }
  if (t != napi_string) {
    snprintf(err, errlen, "a string expected");
    return NULL;
  }
  char *pattern = get_string(env, v);
  struct glob *g = pattern ? glob_compile(pattern, err, errlen) : NULL;
  free(pattern);
  return g;
}

/*
 * setRules(session, rules: { ops: mask, glob?, percent, delayUs, js }[]): the index.ts layer checked
 * the shapes; here each is read again and a bad one refused with its index, leaving the old set.
 */
static napi_value js_set_rules(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t n;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = session_of(env, argv[0]);
  if (!s) return NULL;
  CHECK(env, napi_get_array_length(env, argv[1], &n));
  if (n > MAX_RULES) return throw_error(env, "setRules: %u rules, at most %d", n, MAX_RULES);
  struct ruleset *r = ruleset_new((int)n);
  if (!r) return throw_error(env, "out of memory");
  for (uint32_t k = 0; k < n; k++) {
    napi_value o, v;
    double ops, percent, delay_us;
    bool js = false;
    char err[200] = "";
    int none;
    struct rule *u = &r->r[k];
    napi_get_element(env, argv[1], k, &o);
    if (get_double(env, o, "ops", 0, &ops) != 0 || get_double(env, o, "percent", 100, &percent) != 0 ||
        get_double(env, o, "delayUs", 0, &delay_us) != 0 || percent < 0 || percent > 100 || delay_us < 0 ||
        delay_us > 4e9) {
      ruleset_release(r);
      return throw_error(env, "setRules: rule %u: ops, percent (0-100) and delayUs (µs, < 4e9) must be numbers", k);
    }
    if (napi_get_named_property(env, o, "js", &v) == napi_ok) napi_get_value_bool(env, v, &js);
    napi_get_named_property(env, o, "glob", &v);
    u->glob = glob_of(env, v, &none, err, sizeof err);
    if (!u->glob && !none) {
      ruleset_release(r);
      return throw_error(env, "setRules: rule %u: bad glob: %s", k, err);
    }
    u->ops = (uint64_t)ops;
    u->percent = percent;
    u->delay_us = (uint32_t)delay_us;
    u->js = js;
    r->ops |= u->ops;
  }
  rules_publish(&s->fs, r);
  /* Delays in flight may belong to a rule that is gone: they end now rather than run their course. */
  delay_flush(s->fs.delays);
  return NULL;
}

/* ruleCounts(session) -> { matched: number[], fired: number[] } per rule of the current set. */
static napi_value js_rule_counts(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, matched, fired, v;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = session_of(env, argv[0]);
  if (!s) return NULL;
  napi_create_object(env, &out);
  napi_create_array(env, &matched);
  napi_create_array(env, &fired);
  struct ruleset *r = rules_acquire(&s->fs);
  for (int k = 0; r && k < r->n; k++) {
    napi_create_int64(env, (int64_t)atomic_load(&r->r[k].matched), &v);
    napi_set_element(env, matched, (uint32_t)k, v);
    napi_create_int64(env, (int64_t)atomic_load(&r->r[k].fired), &v);
    napi_set_element(env, fired, (uint32_t)k, v);
  }
  ruleset_release(r);
  napi_set_named_property(env, out, "matched", matched);
  napi_set_named_property(env, out, "fired", fired);
  return out;
}

/* setGuard(session, on): whether ops run with the caller's fs ids (guard.h). */
static napi_value js_set_guard(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool on = false;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = session_of(env, argv[0]);
  if (!s) return NULL;
  CHECK(env, napi_get_value_bool(env, argv[1], &on));
  atomic_store_explicit(&s->fs.guard, on ? 1 : 0, memory_order_release);
  return NULL;
}

/* globMatch(pattern, paths: string[]) -> boolean[]: the native matcher, for the equality tests. */
static napi_value js_glob_match(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out, v;
  uint32_t n;
  char err[200] = "";
  int none;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct glob *g = glob_of(env, argv[0], &none, err, sizeof err);
  if (!g) return throw_error(env, "bad glob: %s", none ? "a string expected" : err);
  CHECK(env, napi_get_array_length(env, argv[1], &n));
  CHECK(env, napi_create_array_with_length(env, n, &out));
  for (uint32_t k = 0; k < n; k++) {
    napi_get_element(env, argv[1], k, &v);
    char *path = get_string(env, v);
    napi_get_boolean(env, path && glob_match(g, path), &v);
    napi_set_element(env, out, k, v);
    free(path);
  }
  glob_free(g);
  return out;
}

static napi_value js_device(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = session_of(env, argv[0]);
  if (!s) return NULL;
  char buf[32];
  snprintf(buf, sizeof buf, "%u:%u", major(s->device), minor(s->device));
  CHECK(env, napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, native, js;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = session_of(env, argv[0]);
  if (!s) return NULL;
  napi_create_object(env, &out);
  napi_create_object(env, &native);
  napi_create_object(env, &js);
  for (int k = 0; k < OP_COUNT; k++) {
    set_i64(env, native, op_names[k], (int64_t)atomic_load(&s->fs.native_calls[k]), 0);
    set_i64(env, js, op_names[k], (int64_t)atomic_load(&s->fs.js_calls[k]), 0);
  }
  napi_set_named_property(env, out, "nativeCalls", native);
  napi_set_named_property(env, out, "jsCalls", js);
  pthread_mutex_lock(&s->fs.lock);
  set_i64(env, out, "inodes", (int64_t)s->fs.count, 0);
  pthread_mutex_unlock(&s->fs.lock);
  return out;
}

/* ---- work off the JS thread: invalidation and close --------------------------------------------- */

struct work {
  napi_async_work work;
  napi_deferred deferred;
  struct session *s;
  int result;
  char message[256];
};

/*
 * Tells the kernel to forget the attributes and pages of every inode it holds, and to look again at
 * the names they were found under, so that the next call on any of them reaches the file system (and the rules).
 * Run off the JS thread: the kernel may wait for a call that is waiting for JS.
 */
static void invalidate_execute(napi_env env, void *data) {
  (void)env;
  struct work *w = data;
  size_t n;
  struct known *k = fs_known(&w->s->fs, &n);
  for (size_t i = 0; k && i < n; i++) {
    fuse_lowlevel_notify_inval_inode(w->s->fs.se, k[i].nodeid, 0, 0);
    /* Expired, not invalidated: the next walk revalidates the name (a lookup, which the rules see),
     * while a dentry an open file holds stays hashed, so /proc/PID/fd still names the file (an
     * invalidated one reads "NAME (deleted)", and the fd swap then cannot find it by path). */
    if (k[i].name && k[i].nodeid != FUSE_ROOT_ID &&
        fuse_lowlevel_notify_expire_entry(w->s->fs.se, k[i].parent, k[i].name, strlen(k[i].name),
                                          FUSE_LL_EXPIRE_ONLY) == -ENOSYS)
      fuse_lowlevel_notify_inval_entry(w->s->fs.se, k[i].parent, k[i].name, strlen(k[i].name));
  }
  w->result = (int)n;
  fs_known_free(k, n);
}

/* Waits up to `ms` for libfuse's loop to return. */
static int wait_loop(struct session *s, int ms) {
  for (int waited = 0; waited < ms; waited += 10) {
    if (atomic_load(&s->loop_ended)) return 1;
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
  return atomic_load(&s->loop_ended);
}

/*
 * Aborts the connection through the fuse control file system (mounted for the moment on a private
 * temporary directory): the only way to end a session whose mount someone else detached while a file
 * on it stays open.
 */
static void abort_connection(struct session *s) {
  char dir[] = "/tmp/iochaos-fusectl-XXXXXX", path[PATH_MAX];
  if (!mkdtemp(dir)) return;
  if (mount("fusectl", dir, "fusectl", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
    snprintf(path, sizeof path, "%s/%u/abort", dir, (major(s->device) << 20) | minor(s->device));
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (write(fd, "1", 1) < 0) { /* the loop is checked again below */
      }
      close(fd);
    }
    umount2(dir, MNT_DETACH);
  }
  rmdir(dir);
}

static void close_execute(napi_env env, void *data) {
  (void)env;
  struct work *w = data;
  struct session *s = w->s;
  fuse_session_exit(s->fs.se);
  if (!wait_loop(s, 200)) abort_connection(s);
  if (!wait_loop(s, 10000)) {
    snprintf(w->message, sizeof w->message, "the session did not end within 10 s of its mounts' detach");
    w->result = -1;
    return;
  }
  pthread_join(s->loop, NULL);
  inval_stop(s->fs.inval);
  s->fs.inval = NULL;
  delay_stop(s->fs.delays);
  s->fs.delays = NULL;
  /* The connection is aborted or gone, so libfuse only closes the device fd here, touching no path. */
  fuse_session_unmount(s->fs.se);
  w->result = 0;
}

static void work_complete(napi_env env, napi_status status, void *data) {
  struct work *w = data;
  napi_value v;
  if (status == napi_ok && w->result >= 0) {
    napi_create_int32(env, w->result, &v);
    napi_resolve_deferred(env, w->deferred, v);
  } else {
    napi_value msg;
    napi_create_string_utf8(env, w->message[0] ? w->message : "failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &v);
    napi_reject_deferred(env, w->deferred, v);
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

static void close_complete(napi_env env, napi_status status, void *data) {
  struct work *w = data;
  if (status == napi_ok && w->result == 0) {
    napi_release_threadsafe_function(w->s->tsfn, napi_tsfn_release);
    session_free(w->s);
  } else {
    w->s->closed = 0; /* may be tried again */
  }
  work_complete(env, status, data);
}

static napi_value queue(napi_env env, struct session *s, const char *name, napi_async_execute_callback exec,
                        napi_async_complete_callback complete) {
  struct work *w = calloc(1, sizeof *w);
  napi_value promise, resource;
  if (!w) return throw_error(env, "out of memory");
  w->s = s;
  CHECK(env, napi_create_promise(env, &w->deferred, &promise));
  CHECK(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource));
  CHECK(env, napi_create_async_work(env, NULL, resource, exec, complete, w, &w->work));
  CHECK(env, napi_queue_async_work(env, w->work));
  return promise;
}

static napi_value js_invalidate(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = session_of(env, argv[0]);
  return s ? queue(env, s, "fuse3-invalidate", invalidate_execute, work_complete) : NULL;
}

/* close(session) -> Promise: ends the session after the caller detached its mounts. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = session_of(env, argv[0]);
  if (!s) return NULL;
  s->closed = 1;
  return queue(env, s, "fuse3-close", close_execute, close_complete);
}

/* umount2(path, flags) -> 0 or -errno. */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  int32_t flags;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *path = get_string(env, argv[0]);
  CHECK(env, napi_get_value_int32(env, argv[1], &flags));
  int res = path && umount2(path, flags) < 0 ? -errno : 0;
  free(path);
  CHECK(env, napi_create_int32(env, res, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
      {"setRules", NULL, js_set_rules, NULL, NULL, NULL, napi_default, NULL},
      {"ruleCounts", NULL, js_rule_counts, NULL, NULL, NULL, napi_default, NULL},
      {"setGuard", NULL, js_set_guard, NULL, NULL, NULL, napi_default, NULL},
      {"globMatch", NULL, js_glob_match, NULL, NULL, NULL, napi_default, NULL},
      {"device", NULL, js_device, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"invalidate", NULL, js_invalidate, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  napi_value ops, v;
  napi_create_array_with_length(env, OP_COUNT, &ops);
  for (uint32_t k = 0; k < OP_COUNT; k++) {
    napi_create_string_utf8(env, op_names[k], NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, ops, k, v);
  }
  napi_set_named_property(env, exports, "ops", ops);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
