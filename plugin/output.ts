/**
 * Printing results the way kubectl does: a short line or a table for people; -o json|yaml|name|
 * jsonpath=TEMPLATE for scripts.
 */
import YAML from 'yaml';
import { JSONPath } from 'jsonpath-plus';
import { usageError } from './errors';

export type OutputFormat = 'json' | 'yaml' | 'wide' | 'name' | `jsonpath=${string}` | undefined;

export const OUTPUT_HELP = 'output format: json, yaml, wide, name, or jsonpath=TEMPLATE (as kubectl)';

/** -o as given, checked: anything else is a usage error. */
export function parseOutput(v: unknown): OutputFormat {
  if (v === undefined) return undefined;
  const text = String(v);
  if (['json', 'yaml', 'wide', 'name'].includes(text)) return text as OutputFormat;
  if (text.startsWith('jsonpath=') && text.length > 'jsonpath='.length) return text as OutputFormat;
  throw usageError(
    `-o ${text}: not an output format`,
    "use json, yaml, wide, name or jsonpath=TEMPLATE, e.g. -o jsonpath='{.items[*].target}'",
  );
}

/** Whether the format is for scripts (no progress chatter on stdout, no tables). */
export const structured = (o: OutputFormat): o is 'json' | 'yaml' | `jsonpath=${string}` =>
  o === 'json' || o === 'yaml' || (o?.startsWith('jsonpath=') ?? false);

/**
 * -o json|yaml print the list as it is; -o jsonpath applies the template to `{kind: "List", items}`,
 * as kubectl does for a list of objects (`{.items[*].target}`).
 */
export function printStructured(items: unknown[], format: 'json' | 'yaml' | `jsonpath=${string}`): void {
  if (format === 'json') process.stdout.write(JSON.stringify(items, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(YAML.stringify(items));
  // As kubectl: exactly what the template says, no newline added ({"\n"} adds one).
  else process.stdout.write(renderJsonPath(format.slice('jsonpath='.length), { kind: 'List', items }));
}

/**
 * kubectl's JSONPath template: text with `{expression}` parts (relative to the object: `{.items[0].x}`)
 * and `{"literal"}` strings; several results of one expression are joined by spaces. The expressions
 * are evaluated by jsonpath-plus; kubectl's `{range}`/`{end}` loops are not supported.
 */
export function renderJsonPath(template: string, data: unknown): string {
  let out = '';
  let at = 0;
  while (at < template.length) {
    const open = template.indexOf('{', at);
    if (open < 0) {
      out += template.slice(at);
      break;
    }
    out += template.slice(at, open);
    const close = template.indexOf('}', open);
    if (close < 0) throw usageError(`jsonpath ${template}: unclosed "{"`);
    const expr = template.slice(open + 1, close).trim();
    at = close + 1;
    if (expr.startsWith('"')) {
      out += JSON.parse(expr) as string;
      continue;
    }
    if (/^(range|end)\b/.test(expr))
      throw usageError(`jsonpath ${template}: {${expr}} is not supported here`);
    const path = expr.startsWith('$')
      ? expr
      : `$${expr.startsWith('.') || expr.startsWith('[') ? '' : '.'}${expr}`;
    let values: unknown[];
    try {
      values = JSONPath({ path, json: data as object, wrap: true }) as unknown[];
    } catch (err) {
      throw usageError(`jsonpath {${expr}}: ${(err as Error).message}`);
    }
    out += values.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(' ');
  }
  return out;
}

/** A kubectl-style table: upper-case headers, columns padded by three spaces. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** "5s", "3m", "2h" from milliseconds, like kubectl's AGE column. */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}
