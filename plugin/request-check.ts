/**
 * The plugin checks the request it built with the schema the daemon uses (sidecar/api/control.ts), so
 * --dry-run=client and the real run refuse the same things; problems are told in the words of the
 * flags or manifest fields the person wrote.
 */
import { requestIssues, type ControlRequest } from '../sidecar/api/control';
import type { SpecIssue } from '../sidecar/api/fault-spec';
import { usageError } from './errors';

/** How a field of the request is named to the person: a flag (`--files`) or a manifest field. */
export type FieldNamer = (path: SpecIssue['path']) => string;

export function checkRequest(req: ControlRequest, name: FieldNamer, hint?: string): ControlRequest {
  const { request, issues } = requestIssues(req);
  if (issues.length === 0 && request) return request;
  const lines = issues.map((i) => `${name(i.path)}: ${i.message}`);
  throw usageError(lines.length === 1 ? lines[0] : `invalid input:\n  - ${lines.join('\n  - ')}`, hint);
}

/** Rule fields whose flag is not the field's name in kebab case. */
const FLAG_OF_FIELD: Record<string, string> = { path: 'files', faults: 'errno', weight: 'errno', id: 'name' };

/** The flag a field of an inject request came from: rules[0].mistake.maxLength -> --max-length. */
export const flagOf: FieldNamer = (path) => {
  if (path[0] === 'volumePath') return '--path';
  if (path[0] === 'rules') {
    const names = path.slice(2).filter((p): p is string => typeof p === 'string');
    if (names.includes('faults')) return '--errno';
    // rules[0].attr.mtime.sec -> --mtime: each attribute is one flag, whatever its inner fields.
    const attr = names.indexOf('attr');
    if (attr >= 0 && names[attr + 1] !== undefined) return `--${names[attr + 1]}`;
    const field = names.at(-1);
    if (field === undefined) return 'the rule';
    if (field === 'attr') return 'attribute flags (--size, --perm, --uid, ...)';
    if (field === 'mistake') return '--filling/--max-occurrences/--max-length';
    return `--${FLAG_OF_FIELD[field] ?? field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  }
  return `--${String(path[0] ?? 'request')}`;
};
