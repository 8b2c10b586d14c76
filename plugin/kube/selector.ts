/** A LabelSelector object (a workload's spec.selector, an IOChaos selector) as the list API's query string. */
import type { V1LabelSelector } from '@kubernetes/client-node';

export function labelSelectorString(sel: V1LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    switch (e.operator) {
      case 'In':
        parts.push(`${e.key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${e.key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(e.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${e.key}`);
        break;
      default:
        throw new Error(
          `label selector operator "${e.operator}" on ${e.key} is not one of In, NotIn, Exists, DoesNotExist`,
        );
    }
  }
  return parts.join(',');
}
