/**
 * The app the pod tests inject into, run by node in its container: it holds /data/records open and
 * appends a sequenced, checksummed record every 10 ms (the fd it holds is the one fdswap must move),
 * and every 200 ms writes what it saw to /tmp/app-stats.json (outside the volume): records written,
 * failed writes by error code, and the slowest write of the last second.
 */
import { createHash } from 'node:crypto';
import type { Json } from './json';

// No leading newline: `podman kube play` (4.3) re-encodes the pod and then cannot parse its own
// output for a string that starts with one ("did not find expected '-' indicator").
export const APP_SCRIPT = `const fs = require('fs');
const crypto = require('crypto');
const fd = fs.openSync('/data/records', 'a');
let seq = 0, errors = {}, slow = [];
setInterval(() => {
  const body = 'record ' + seq + ' ' + 'x'.repeat(40);
  const sum = crypto.createHash('sha256').update(body).digest('hex').slice(0, 16);
  const t = process.hrtime.bigint();
  try { fs.writeSync(fd, body + ' ' + sum + '\\n'); seq++; }
  catch (e) { errors[e.code] = (errors[e.code] || 0) + 1; }
  slow.push([Date.now(), Number(process.hrtime.bigint() - t) / 1e6]);
}, 10);
setInterval(() => {
  const now = Date.now();
  slow = slow.filter(([at]) => at > now - 1000);
  const stats = { seq, errors, maxMs: Math.max(0, ...slow.map(([, ms]) => ms)) };
  fs.writeFileSync('/tmp/app-stats.tmp', JSON.stringify(stats));
  fs.renameSync('/tmp/app-stats.tmp', '/tmp/app-stats.json');
}, 200);
`;

export interface AppStats {
  seq: number;
  errors: Record<string, number>;
  maxMs: number;
}

/** Checks the records file: every record from 0 once, in order, its checksum right. */
export function checkRecords(text: string): { count: number; problems: string[] } {
  const problems: string[] = [];
  const lines = text.split('\n').filter((l) => l !== '');
  lines.forEach((line, i) => {
    const m = /^record (\d+) (x+) ([0-9a-f]{16})$/.exec(line);
    if (!m) return problems.push(`line ${i}: malformed: ${line.slice(0, 80)}`);
    if (Number(m[1]) !== i) problems.push(`line ${i}: record ${m[1]} out of order`);
    const body = `record ${m[1]} ${m[2]}`;
    if (createHash('sha256').update(body).digest('hex').slice(0, 16) !== m[3])
      problems.push(`line ${i}: bad checksum`);
  });
  return { count: lines.length, problems };
}

/** An opted-in (or not) Deployment running the app with an emptyDir at /data. */
export function appDeployment(name: string, namespace: string, image: string, inject: boolean): Json {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        // Opted in as manifests/ asks: the pod label the webhook's objectSelector matches.
        metadata: { labels: { app: name, ...(inject ? { 'iochaos.dev/inject': 'true' } : {}) } },
        spec: {
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: 'app',
              image,
              command: ['node', '-e', APP_SCRIPT],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  };
}
