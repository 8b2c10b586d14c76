/*
 * The glob compiler and matcher (glob.h). It follows glob.ts step by step: the pattern and the path are
 * read as Unicode code points, `**` as a whole component crosses `/`, `{a,b}` are alternatives (braces
 * with no top-level comma are literal), `[...]` one character that is never `/`, `\x` the character x,
 * a leading `!` negates, `a/` + `**` also matches `a`, and the empty path matches nothing.
 */
#define _GNU_SOURCE
#include "glob.h"

#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

enum test { T_NONE, T_CHAR, T_NOT_SLASH, T_ANY, T_CLASS };

/* One consuming state (test != T_NONE, one exit) or an epsilon split (up to two exits; none: accept). */
struct state {
  enum test test;
  uint32_t ch; /* T_CHAR */
  int cls; /* T_CLASS: index into classes */
  int out[2];
  int nout;
};

enum posix { P_NONE, P_ALNUM, P_ALPHA, P_DIGIT, P_LOWER, P_UPPER, P_SPACE, P_XDIGIT, P_PUNCT, P_WORD, P_BLANK };

struct item {
  uint32_t lo, hi; /* a range (lo == hi for one character) when posix == P_NONE */
  enum posix posix;
};

struct cls {
  int negated;
  struct item *items;
  int n;
};

struct glob {
  struct state *states;
  int nstates, start;
  struct cls *classes;
  int nclasses;
  int negated;
  struct glob *bare; /* `a/` + `**` also matching `a` */
};

struct compiler {
  const uint32_t *s;
  int len, pos;
  struct glob *g;
  char *err;
  size_t errlen;
  int failed;
};

struct frag {
  int start;
  int *exits; /* pairs: state, out index */
  int nexits;
};

static int add(struct compiler *c, enum test t, int nout) {
  struct glob *g = c->g;
  struct state *st = realloc(g->states, (size_t)(g->nstates + 1) * sizeof *st);
  if (!st) abort();
  g->states = st;
  st[g->nstates] = (struct state){.test = t, .out = {-1, -1}, .nout = nout};
  return g->nstates++;
}

static struct frag one_exit(int s) {
  struct frag f = {.start = s, .exits = malloc(2 * sizeof(int)), .nexits = 1};
  if (!f.exits) abort();
  f.exits[0] = s;
  f.exits[1] = 0;
  return f;
}

static void patch(struct compiler *c, struct frag *f, int to) {
  for (int k = 0; k < f->nexits; k++) c->g->states[f->exits[2 * k]].out[f->exits[2 * k + 1]] = to;
}

static struct frag empty(struct compiler *c) {
  return one_exit(add(c, T_NONE, 1));
}

static struct frag single(struct compiler *c, enum test t, uint32_t ch, int cls) {
  int s = add(c, t, 1);
  c->g->states[s].ch = ch;
  c->g->states[s].cls = cls;
  return one_exit(s);
}

static struct frag concat(struct compiler *c, struct frag a, struct frag b) {
  patch(c, &a, b.start);
  free(a.exits);
  return (struct frag){.start = a.start, .exits = b.exits, .nexits = b.nexits};
}

static struct frag star(struct compiler *c, enum test t) {
  int split = add(c, T_NONE, 2);
  int ch = add(c, t, 1);
  c->g->states[ch].out[0] = split;
  c->g->states[split].out[0] = ch;
  struct frag f = one_exit(split);
  f.exits[1] = 1;
  return f;
}

static struct frag alternatives(struct compiler *c, struct frag *fs, int n) {
  /* A chain of binary splits: the same epsilon closure as one n-way split. */
  struct frag out = fs[n - 1];
  for (int k = n - 2; k >= 0; k--) {
    int split = add(c, T_NONE, 2);
    c->g->states[split].out[0] = fs[k].start;
    c->g->states[split].out[1] = out.start;
    int *exits = realloc(out.exits, (size_t)(out.nexits + fs[k].nexits) * 2 * sizeof(int));
    if (!exits) abort();
    memcpy(exits + 2 * out.nexits, fs[k].exits, (size_t)fs[k].nexits * 2 * sizeof(int));
    free(fs[k].exits);
    out = (struct frag){.start = split, .exits = exits, .nexits = out.nexits + fs[k].nexits};
  }
  return out;
}

static void fail(struct compiler *c, const char *msg) {
  if (!c->failed) snprintf(c->err, c->errlen, "%s", msg);
  c->failed = 1;
}

static uint32_t at(struct compiler *c, int i) {
  return i >= 0 && i < c->len ? c->s[i] : 0;
}

static struct frag item(struct compiler *c);

static struct frag sequence(struct compiler *c, int in_braces, int close) {
  struct frag f = empty(c);
  while (!c->failed && c->pos < c->len && !(in_braces && (at(c, c->pos) == ',' || c->pos >= close)))
    f = concat(c, f, item(c));
  return f;
}

static struct frag stars(struct compiler *c) {
  int start = c->pos;
  while (at(c, c->pos) == '*') c->pos++;
  int dbl = c->pos - start >= 2;
  int seg_start = start == 0 || at(c, start - 1) == '/';
  int has_next = c->pos < c->len;
  uint32_t next = at(c, c->pos);
  if (!dbl || !seg_start || (has_next && next != '/')) return star(c, T_NOT_SLASH);
  if (has_next) { /* `**` followed by `/`: zero or more whole components */
    c->pos++;
    struct frag comp = concat(c, concat(c, single(c, T_NOT_SLASH, 0, 0), star(c, T_NOT_SLASH)),
                              single(c, T_CHAR, '/', 0));
    int loop = add(c, T_NONE, 2);
    c->g->states[loop].out[0] = comp.start;
    patch(c, &comp, loop);
    free(comp.exits);
    struct frag f = one_exit(loop);
    f.exits[1] = 1;
    return f;
  }
  return star(c, T_ANY);
}

static enum posix posix_named(const uint32_t *s, int n) {
  static const char *const names[] = {"",      "alnum", "alpha", "digit",  "lower", "upper",
                                      "space", "xdigit", "punct", "word", "blank"};
  for (int k = 1; k < (int)(sizeof names / sizeof names[0]); k++) {
    int len = (int)strlen(names[k]), same = len == n;
    for (int i = 0; same && i < n; i++) same = s[i] == (uint32_t)names[k][i];
    if (same) return (enum posix)k;
  }
  return P_NONE;
}

static struct frag char_class(struct compiler *c) {
  int i = c->pos + 1, first = 1;
  struct cls cl = {0};
  cl.negated = at(c, i) == '!' || at(c, i) == '^';
  if (cl.negated) i++;
  for (;;) {
    if (i >= c->len) {
      char msg[64];
      snprintf(msg, sizeof msg, "\"[\" at %d has no closing \"]\"", c->pos);
      fail(c, msg);
      free(cl.items);
      return empty(c);
    }
    if (at(c, i) == ']' && !first) break;
    first = 0;
    struct item it = {0};
    if (at(c, i) == '[' && at(c, i + 1) == ':') {
      int end = -1;
      for (int k = i + 2; k + 1 < c->len; k++)
        if (c->s[k] == ':' && c->s[k + 1] == ']') {
          end = k;
          break;
        }
      it.posix = end < 0 ? P_NONE : posix_named(c->s + i + 2, end - i - 2);
      if (it.posix == P_NONE) {
        fail(c, "unknown character class in \"[[:name:]]\"");
        free(cl.items);
        return empty(c);
      }
      i = end + 2;
    } else {
      uint32_t lo = at(c, i) == '\\' && i + 1 < c->len ? c->s[++i] : at(c, i);
      i++;
      uint32_t hi = lo;
      if (at(c, i) == '-' && i + 1 < c->len && at(c, i + 1) != ']') {
        int esc = at(c, i + 1) == '\\';
        hi = esc && i + 2 < c->len ? at(c, i + 2) : at(c, i + 1);
        i += esc ? 3 : 2;
        if (hi < lo) {
          uint32_t t = lo;
          lo = hi;
          hi = t;
        }
      }
      it.lo = lo;
      it.hi = hi;
    }
    struct item *items = realloc(cl.items, (size_t)(cl.n + 1) * sizeof *items);
    if (!items) abort();
    cl.items = items;
    cl.items[cl.n++] = it;
  }
  c->pos = i + 1;
  struct glob *g = c->g;
  struct cls *classes = realloc(g->classes, (size_t)(g->nclasses + 1) * sizeof *classes);
  if (!classes) abort();
  g->classes = classes;
  g->classes[g->nclasses] = cl;
  return single(c, T_CLASS, 0, g->nclasses++);
}

static int closing_brace(struct compiler *c, int open) {
  int depth = 0;
  for (int i = open; i < c->len; i++) {
    uint32_t ch = c->s[i];
    if (ch == '\\')
      i++;
    else if (ch == '{')
      depth++;
    else if (ch == '}' && --depth == 0)
      return i;
  }
  return -1;
}

static int top_level_comma(struct compiler *c, int from, int to) {
  int depth = 0;
  for (int i = from; i < to; i++) {
    uint32_t ch = c->s[i];
    if (ch == '\\')
      i++;
    else if (ch == '{')
      depth++;
    else if (ch == '}')
      depth--;
    else if (ch == ',' && depth == 0)
      return 1;
  }
  return 0;
}

/* Alternatives, or 0 (braces taken literally) when there is no top-level comma. */
static int braces(struct compiler *c, struct frag *out) {
  int close = closing_brace(c, c->pos);
  if (close < 0 || !top_level_comma(c, c->pos + 1, close)) return 0;
  c->pos++;
  struct frag *fs = NULL;
  int n = 0;
  for (;;) {
    struct frag *more = realloc(fs, (size_t)(n + 1) * sizeof *fs);
    if (!more) abort();
    fs = more;
    fs[n++] = sequence(c, 1, close);
    if (c->failed || c->pos >= close) break;
    c->pos++;
  }
  c->pos = close + 1;
  *out = alternatives(c, fs, n);
  free(fs);
  return 1;
}

static struct frag item(struct compiler *c) {
  uint32_t ch = at(c, c->pos);
  if (ch == '\\') {
    if (c->pos + 1 >= c->len) {
      fail(c, "it ends with a lone \"\\\"");
      c->pos++;
      return empty(c);
    }
    c->pos += 2;
    return single(c, T_CHAR, c->s[c->pos - 1], 0);
  }
  if ((ch == '+' || ch == '@' || ch == '!' || ch == '?' || ch == '*') && at(c, c->pos + 1) == '(') {
    fail(c, "extglobs like \"+(a|b)\" are not supported (use {a,b} for alternatives)");
    c->pos = c->len;
    return empty(c);
  }
  if (ch == '*') return stars(c);
  if (ch == '?') {
    c->pos++;
    return single(c, T_NOT_SLASH, 0, 0);
  }
  if (ch == '[') return char_class(c);
  struct frag f;
  if (ch == '{' && braces(c, &f)) return f;
  c->pos++;
  return single(c, T_CHAR, ch, 0);
}

/* UTF-8 to code points; a malformed byte reads as U+FFFD, as Node decodes it. */
static uint32_t *decode(const char *s, int *n) {
  size_t len = strlen(s);
  uint32_t *out = malloc((len + 1) * sizeof *out);
  if (!out) abort();
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  int k = 0;
  while (p < end) {
    uint32_t cp = *p;
    int extra = cp < 0x80 ? 0 : (cp >> 5) == 6 ? 1 : (cp >> 4) == 14 ? 2 : (cp >> 3) == 30 ? 3 : -1;
    if (extra < 0 || (extra > 0 && p + extra >= end)) {
      out[k++] = 0xFFFD;
      p++;
      continue;
    }
    cp &= extra ? (0x3Fu >> extra) : 0x7F;
    int ok = 1;
    for (int i = 1; i <= extra; i++) {
      if ((p[i] & 0xC0) != 0x80) ok = 0;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (!ok) {
      out[k++] = 0xFFFD;
      p++;
      continue;
    }
    out[k++] = cp;
    p += extra + 1;
  }
  *n = k;
  return out;
}

static struct glob *compile(const char *pattern, char *err, size_t errlen) {
  int n;
  uint32_t *s = decode(pattern, &n);
  struct glob *g = calloc(1, sizeof *g);
  if (!g) abort();
  g->negated = n > 0 && s[0] == '!' && !(n > 1 && s[1] == '(');
  int off = g->negated ? 1 : 0;
  struct compiler c = {.s = s + off, .len = n - off, .g = g, .err = err, .errlen = errlen};
  struct frag f = sequence(&c, 0, 0);
  int match = add(&c, T_NONE, 0);
  patch(&c, &f, match);
  free(f.exits);
  g->start = f.start;
  int blen = c.len;
  const uint32_t *b = c.s;
  if (!c.failed && blen >= 3 && b[blen - 1] == '*' && b[blen - 2] == '*' && b[blen - 3] == '/' &&
      !(blen >= 4 && b[blen - 4] == '\\')) {
    /* The body without its trailing `/` + `**`, compiled again from its UTF-8 form. */
    char *bare = malloc((size_t)blen * 4 + 1);
    size_t o = 0;
    for (int i = 0; i < blen - 3; i++) {
      uint32_t cp = b[i];
      if (cp < 0x80)
        bare[o++] = (char)cp;
      else if (cp < 0x800) {
        bare[o++] = (char)(0xC0 | (cp >> 6));
        bare[o++] = (char)(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        bare[o++] = (char)(0xE0 | (cp >> 12));
        bare[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        bare[o++] = (char)(0x80 | (cp & 0x3F));
      } else {
        bare[o++] = (char)(0xF0 | (cp >> 18));
        bare[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        bare[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        bare[o++] = (char)(0x80 | (cp & 0x3F));
      }
    }
    bare[o] = '\0';
    g->bare = compile(bare, err, errlen);
    free(bare);
    if (!g->bare) c.failed = 1;
  }
  free(s);
  if (c.failed) {
    glob_free(g);
    return NULL;
  }
  return g;
}

struct glob *glob_compile(const char *pattern, char *err, size_t errlen) {
  return compile(pattern, err, errlen);
}

void glob_free(struct glob *g) {
  if (!g) return;
  for (int k = 0; k < g->nclasses; k++) free(g->classes[k].items);
  free(g->classes);
  free(g->states);
  glob_free(g->bare);
  free(g);
}

/* JavaScript's \s. */
static int js_space(uint32_t c) {
  return (c >= 9 && c <= 13) || c == ' ' || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

static locale_t utf8_loc;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static void utf8_init(void) {
  utf8_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static locale_t utf8_locale(void) {
  pthread_once(&utf8_once, utf8_init);
  return utf8_loc;
}

static int posix_test(enum posix p, uint32_t c) {
  int ascii = c < 0x80;
  locale_t loc = ascii ? (locale_t)0 : utf8_locale();
  int alpha = ascii ? ((c | 32) >= 'a' && (c | 32) <= 'z') : loc && iswalpha_l((wint_t)c, loc);
  int digit = c >= '0' && c <= '9';
  switch (p) {
    case P_ALNUM:
      return alpha || digit || (!ascii && loc && iswalnum_l((wint_t)c, loc));
    case P_ALPHA:
      return alpha;
    case P_DIGIT:
      return digit;
    case P_LOWER:
      return ascii ? (c >= 'a' && c <= 'z') : loc && iswlower_l((wint_t)c, loc);
    case P_UPPER:
      return ascii ? (c >= 'A' && c <= 'Z') : loc && iswupper_l((wint_t)c, loc);
    case P_SPACE:
      return js_space(c);
    case P_XDIGIT:
      return digit || ((c | 32) >= 'a' && (c | 32) <= 'f');
    case P_PUNCT:
      return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
    case P_WORD:
      return alpha || digit || c == '_' || (!ascii && loc && iswalnum_l((wint_t)c, loc));
    case P_BLANK:
      return c == ' ' || c == '\t';
    default:
      return 0;
  }
}

static int passes(const struct glob *g, const struct state *st, uint32_t c) {
  switch (st->test) {
    case T_CHAR:
      return c == st->ch;
    case T_NOT_SLASH:
      return c != '/';
    case T_ANY:
      return 1;
    case T_CLASS: {
      if (c == '/') return 0;
      const struct cls *cl = &g->classes[st->cls];
      int in = 0;
      for (int k = 0; k < cl->n && !in; k++) {
        const struct item *it = &cl->items[k];
        in = it->posix ? posix_test(it->posix, c) : c >= it->lo && c <= it->hi;
      }
      return cl->negated ? !in : in;
    }
    default:
      return 0;
  }
}

/* Adds to `list` the consuming and accepting states reachable from `s` by epsilon moves. */
static int closure(const struct glob *g, int *list, int n, int s, uint32_t *seen, uint32_t gen, int *stack) {
  int sp = 0;
  if (seen[s] != gen) {
    seen[s] = gen;
    stack[sp++] = s;
  }
  while (sp > 0) {
    int t = stack[--sp];
    const struct state *st = &g->states[t];
    if (st->test != T_NONE || st->nout == 0) {
      list[n++] = t;
      continue;
    }
    for (int k = 0; k < st->nout; k++) {
      int o = st->out[k];
      if (seen[o] == gen) continue;
      seen[o] = gen;
      stack[sp++] = o;
    }
  }
  return n;
}

static int run(const struct glob *g, const uint32_t *path, int len) {
  int n = g->nstates;
  int *buf = malloc((size_t)n * 3 * sizeof(int));
  uint32_t *seen = calloc((size_t)n, sizeof *seen);
  if (!buf || !seen) abort();
  int *cur = buf, *next = buf + n, *stack = buf + 2 * n;
  uint32_t gen = 1;
  int ncur = closure(g, cur, 0, g->start, seen, gen, stack), result = 0;
  for (int i = 0; i < len && ncur > 0; i++) {
    gen++;
    int nnext = 0;
    for (int k = 0; k < ncur; k++) {
      const struct state *st = &g->states[cur[k]];
      if (passes(g, st, path[i])) nnext = closure(g, next, nnext, st->out[0], seen, gen, stack);
    }
    int *t = cur;
    cur = next;
    next = t;
    ncur = nnext;
  }
  for (int k = 0; k < ncur && !result; k++) result = g->states[cur[k]].test == T_NONE;
  free(buf);
  free(seen);
  return result;
}

static int match_cps(const struct glob *g, const uint32_t *path, int len) {
  if (len == 0) return 0;
  int m = run(g, path, len) || (g->bare && match_cps(g->bare, path, len));
  return m != g->negated;
}

int glob_match(const struct glob *g, const char *path) {
  int n;
  uint32_t *cps = decode(path, &n);
  int m = match_cps(g, cps, n);
  free(cps);
  return m;
}
