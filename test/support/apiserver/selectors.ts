/**
 * labelSelector and fieldSelector on list requests, as the real API server applies them (the generic
 * store lists everything). Label syntax: k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k. Field
 * selectors: the fields the pod registry supports, with =, == and !=.
 */
import { badRequest } from './status';
import type { KubeObject } from './store';

/** Splits on commas outside parentheses. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out.filter(Boolean);
}

export function labelMatcher(selector: string): (labels: Record<string, string>) => boolean {
  const tests = terms(selector).map((term): ((l: Record<string, string>) => boolean) => {
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term))) {
      const [, key, op, list] = m;
      const values = list.split(',').map((v) => v.trim());
      return op === 'in' ? (l) => values.includes(l[key]) : (l) => !values.includes(l[key]);
    }
    if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(term))) {
      const [, key, op, value] = m;
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    if ((m = /^!\s*([\w./-]+)$/.exec(term))) {
      const key = m[1];
      return (l) => !(key in l);
    }
    if (/^[\w./-]+$/.test(term)) return (l) => term in l;
    throw badRequest(`unable to parse requirement: found '${term}', expected: identifier`);
  });
  return (labels) => tests.every((t) => t(labels));
}

const POD_FIELDS: Record<string, (o: KubeObject) => string | undefined> = {
  'metadata.name': (o) => o.metadata?.name,
  'metadata.namespace': (o) => o.metadata?.namespace,
  'spec.nodeName': (o) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '',
  'status.phase': (o) => (o.status as { phase?: string } | undefined)?.phase ?? '',
};

export function podFieldMatcher(selector: string): (obj: KubeObject) => boolean {
  const tests = terms(selector).map((term) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid field selector: ${term}`);
    const [, field, op, value] = m;
    const get = POD_FIELDS[field];
    if (!get) throw badRequest(`field label not supported: ${field}`);
    return (o: KubeObject) => (op === '!=' ? get(o) !== value : get(o) === value);
  });
  return (obj) => tests.every((t) => t(obj));
}

/** A structured LabelSelector (matchLabels, matchExpressions), as selectors in objects are written. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether `labels` match `sel`; an absent selector matches everything, as the API defines. */
export function selectorMatches(
  sel: LabelSelector | undefined,
  labels: Record<string, string> = {},
): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    const ok =
      e.operator === 'In'
        ? inValues
        : e.operator === 'NotIn'
          ? !inValues
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}
