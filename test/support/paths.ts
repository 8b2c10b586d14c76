/** Where tests find the project's files from dist/test/... */
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CHAOSFS_CLI = path.join(ROOT, 'dist', 'sidecar', 'cli.js');
