/**
 * Path globs matched in linear time.
 *
 * A rule's glob is matched against names the app chooses, on every call, inside the worker that
 * serves the whole volume. A backtracking matcher (a regular expression, as picomatch compiles to) is
 * exponential on patterns like `*a*a*a*a*a*a*a*a*b`: 9.5 s for one 60-character name, during which
 * every other call on the mount waits. So a glob is compiled to a Thompson NFA and run as a set of
 * states, one step per character: at most (pattern length) x (name length) work, whatever the input.
 *
 * The syntax and meaning are picomatch's with `dot: true` (what rules always used):
 * - `*` any run of characters within one path component (never `/`); `?` one such character;
 * - `**` as a whole component crosses components: `**` / `a/**` / `**`-slash-`b` / `a/**`-slash-`b`
 *   match any depth, including none (`a/**` matches `a` itself); elsewhere `**` acts as `*`;
 * - `[abc]`, `[a-z]`, `[!a]` / `[^a]`, `[[:alpha:]]` one character of a class (never `/`); one
 *   deliberate difference: picomatch read `[!a]` as "`!` or `a`", we read it as POSIX does, "not `a`";
 * - `{a,b}` alternatives (nestable, may contain `/`); braces without a top-level comma are literal;
 * - `\x` the character x; a leading `!` negates the whole pattern;
 * - hidden names are matched like any other (a volume's files are the app's, hidden or not);
 * - the empty path (the volume root) matches no pattern, as in picomatch.
 * Extglobs (`+(a|b)`, `!(a)`, ...) are refused: negation inside a pattern has no linear NFA.
 */

export class GlobError extends Error {}

type CharTest = (c: string) => boolean;

/** An NFA state: consumes one character that passes `test`, or (test undefined) is an epsilon split. */
interface State {
  test?: CharTest;
  out: number[];
}

/** A fragment under construction: its start state and the dangling exits to patch. */
interface Fragment {
  start: number;
  /** [state, index into out] pairs still to be connected. */
  exits: Array<[number, number]>;
}

const NOT_SLASH: CharTest = (c) => c !== '/';
const ANY: CharTest = () => true;

const POSIX_CLASSES: Record<string, RegExp> = {
  alnum: /[\p{L}\p{N}]/u,
  alpha: /\p{L}/u,
  digit: /[0-9]/,
  lower: /\p{Ll}/u,
  upper: /\p{Lu}/u,
  space: /\s/,
  xdigit: /[0-9A-Fa-f]/,
  punct: /[!-/:-@[-`{-~]/,
  word: /[\p{L}\p{N}_]/u,
  blank: /[ \t]/,
};

class Compiler {
  readonly states: State[] = [];
  private pos = 0;

  constructor(private readonly src: string) {}

  compile(): number {
    const frag = this.sequence(() => this.pos >= this.src.length);
    const match = this.add(undefined, []);
    this.patch(frag, match);
    return frag.start;
  }

  /** The accepting state is the one with no test and no exits. */
  private add(test: CharTest | undefined, out: number[]): number {
    this.states.push({ test, out });
    return this.states.length - 1;
  }

  private patch(frag: Fragment, to: number): void {
    for (const [s, i] of frag.exits) this.states[s].out[i] = to;
  }

  private empty(): Fragment {
    const s = this.add(undefined, [-1]);
    return { start: s, exits: [[s, 0]] };
  }

  private char(test: CharTest): Fragment {
    const s = this.add(test, [-1]);
    return { start: s, exits: [[s, 0]] };
  }

  private concat(a: Fragment, b: Fragment): Fragment {
    this.patch(a, b.start);
    return { start: a.start, exits: b.exits };
  }

  /** Zero or more of `test`. */
  private star(test: CharTest): Fragment {
    const split = this.add(undefined, [-1, -1]);
    const c = this.add(test, [split]);
    this.states[split].out[0] = c;
    return { start: split, exits: [[split, 1]] };
  }

  /** Any one of the fragments. */
  private alternatives(frags: Fragment[]): Fragment {
    const split = this.add(
      undefined,
      frags.map((f) => f.start),
    );
    return { start: split, exits: frags.flatMap((f) => f.exits) };
  }

  private literal(text: string): Fragment {
    let frag = this.empty();
    for (const ch of text)
      frag = this.concat(
        frag,
        this.char((c) => c === ch),
      );
    return frag;
  }

  /** Parses until `atEnd()` says stop (the end of the pattern, or a `,` / `}` inside braces). */
  private sequence(atEnd: () => boolean): Fragment {
    let frag = this.empty();
    while (!atEnd()) frag = this.concat(frag, this.item());
    return frag;
  }

  private item(): Fragment {
    const s = this.src;
    const c = s[this.pos];
    if (c === '\\') {
      if (this.pos + 1 >= s.length) throw new GlobError('it ends with a lone "\\"');
      const ch = String.fromCodePoint(s.codePointAt(this.pos + 1)!);
      this.pos += 1 + ch.length;
      return this.literal(ch);
    }
    if ('+@!?*'.includes(c) && s[this.pos + 1] === '(') {
      throw new GlobError(`extglob "${c}(" is not supported (use {a,b} for alternatives)`);
    }
    if (c === '*') return this.stars();
    if (c === '?') {
      this.pos++;
      return this.char(NOT_SLASH);
    }
    if (c === '[') return this.charClass();
    if (c === '{') {
      const alt = this.braces();
      if (alt) return alt;
    }
    const ch = String.fromCodePoint(s.codePointAt(this.pos)!);
    this.pos += ch.length;
    return this.literal(ch);
  }

  /** `*`, or `**` as a whole component (which crosses `/`). */
  private stars(): Fragment {
    const s = this.src;
    const start = this.pos;
    while (s[this.pos] === '*') this.pos++;
    const double = this.pos - start >= 2;
    const atSegmentStart = start === 0 || s[start - 1] === '/';
    const next = s[this.pos];
    if (!double || !atSegmentStart || (next !== undefined && next !== '/')) return this.star(NOT_SLASH);
    if (next === '/') {
      // `**/`: zero or more whole components, each with its slash.
      this.pos++;
      const component = this.concat(
        this.concat(this.char(NOT_SLASH), this.star(NOT_SLASH)),
        this.literal('/'),
      );
      const loop = this.add(undefined, [component.start, -1]);
      this.patch(component, loop);
      return { start: loop, exits: [[loop, 1]] };
    }
    // `**` at the end: anything, and after `a/` also nothing at all (`a/**` matches `a`). The `/`
    // before it was already compiled as a literal, so `a/**` matching `a` is handled in `matches`.
    return this.star(ANY);
  }

  private charClass(): Fragment {
    const s = this.src;
    let i = this.pos + 1;
    const negated = s[i] === '!' || s[i] === '^';
    if (negated) i++;
    const tests: CharTest[] = [];
    let first = true;
    for (;;) {
      if (i >= s.length) throw new GlobError(`"[" at ${this.pos} has no closing "]"`);
      if (s[i] === ']' && !first) break;
      first = false;
      if (s[i] === '[' && s[i + 1] === ':') {
        const end = s.indexOf(':]', i + 2);
        const name = end < 0 ? '' : s.slice(i + 2, end);
        const re = POSIX_CLASSES[name];
        if (!re) throw new GlobError(`unknown character class "[:${name}:]"`);
        tests.push((c) => re.test(c));
        i = end + 2;
        continue;
      }
      let lo = s[i] === '\\' && i + 1 < s.length ? s[++i] : s[i];
      i++;
      if (s[i] === '-' && i + 1 < s.length && s[i + 1] !== ']') {
        let hi = s[i + 1] === '\\' && i + 2 < s.length ? s[i + 2] : s[i + 1];
        i += s[i + 1] === '\\' ? 3 : 2;
        if (hi < lo) [lo, hi] = [hi, lo];
        const [a, b] = [lo, hi];
        tests.push((c) => c >= a && c <= b);
      } else {
        const one = lo;
        tests.push((c) => c === one);
      }
    }
    this.pos = i + 1;
    const inClass = (c: string) => tests.some((t) => t(c));
    return this.char(negated ? (c) => c !== '/' && !inClass(c) : (c) => c !== '/' && inClass(c));
  }

  /** `{a,b,...}` as alternatives, or null (braces taken literally) when there is no top-level comma. */
  private braces(): Fragment | null {
    const close = this.closingBrace(this.pos);
    if (close < 0) return null;
    const body = this.src.slice(this.pos + 1, close);
    if (!hasTopLevelComma(body)) return null;
    this.pos++;
    const frags: Fragment[] = [];
    for (;;) {
      frags.push(this.sequence(() => this.src[this.pos] === ',' || this.pos >= close));
      if (this.pos >= close) break;
      this.pos++; // the comma
    }
    this.pos = close + 1;
    return this.alternatives(frags);
  }

  private closingBrace(open: number): number {
    let depth = 0;
    for (let i = open; i < this.src.length; i++) {
      const c = this.src[i];
      if (c === '\\') i++;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) return i;
    }
    return -1;
  }
}

function hasTopLevelComma(body: string): boolean {
  let depth = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) return true;
  }
  return false;
}

/** A compiled glob. `steps` counts state visits over its life (the linear bound, for tests). */
export interface Glob {
  (path: string): boolean;
  readonly states: number;
  readonly steps: () => number;
}

/** Compiles a glob; throws GlobError naming what is wrong with it. */
export function compileGlob(pattern: string): Glob {
  const negated = pattern.startsWith('!') && !pattern.startsWith('!(');
  const body = negated ? pattern.slice(1) : pattern;
  const compiler = new Compiler(body);
  const start = compiler.compile();
  const states = compiler.states;
  // `a/**` also matches `a`: picomatch's rule, kept with a second, shorter NFA for that case.
  const bare = body.endsWith('/**') && !body.endsWith('\\/**') ? compileGlob(body.slice(0, -3)) : undefined;
  let steps = 0;
  // The state set as a list plus a generation mark per state: no allocation per character.
  const n = states.length;
  const seen = new Uint32Array(n);
  const stack = new Int32Array(n);
  let generation = 0;
  let current = new Int32Array(n);
  let next = new Int32Array(n);

  /** Adds to `list` the consuming and accepting states reachable from `s` by epsilon moves. */
  function close(list: Int32Array, length: number, s: number): number {
    let sp = 0;
    if (seen[s] !== generation) {
      seen[s] = generation;
      stack[sp++] = s;
    }
    while (sp > 0) {
      const t = stack[--sp];
      steps++;
      const st = states[t];
      if (st.test !== undefined || st.out.length === 0) {
        list[length++] = t;
        continue;
      }
      for (const o of st.out) {
        if (seen[o] === generation) continue;
        seen[o] = generation;
        stack[sp++] = o;
      }
    }
    return length;
  }

  function run(path: string): boolean {
    generation++;
    let length = close(current, 0, start);
    for (const ch of path) {
      generation++;
      let nextLength = 0;
      for (let i = 0; i < length; i++) {
        steps++;
        const st = states[current[i]];
        if (st.test?.(ch)) nextLength = close(next, nextLength, st.out[0]);
      }
      if (nextLength === 0) return false;
      [current, next] = [next, current];
      length = nextLength;
    }
    for (let i = 0; i < length; i++) if (states[current[i]].test === undefined) return true;
    return false;
  }

  // picomatch matches no pattern against the empty path (the volume root): neither do we.
  const matches = (path: string) => path !== '' && (run(path) || (bare?.(path) ?? false)) !== negated;
  return Object.assign(matches, {
    states: states.length,
    steps: () => steps + (bare?.steps() ?? 0),
  });
}
