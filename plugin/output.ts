/** Printing results the way kubectl does: a short line or a table for people, -o json|yaml for scripts. */
import YAML from 'yaml';

export type OutputFormat = 'json' | 'yaml' | 'wide' | undefined;

export function printStructured(value: unknown, format: 'json' | 'yaml'): void {
  process.stdout.write(format === 'json' ? JSON.stringify(value, null, 2) + '\n' : YAML.stringify(value));
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
