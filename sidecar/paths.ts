/** Where the project's own files are, from the compiled code (dist/sidecar/) or an image. */
import * as path from 'node:path';

/** The repository (or image) root: dist/sidecar/paths.js is two levels below it. */
export const ROOT = path.resolve(__dirname, '..', '..');

/** Native helpers built by `make -C native`; an image may put them elsewhere. */
export const NATIVE_OUT = process.env.IOCHAOS_NATIVE_DIR ?? path.join(ROOT, 'native', 'out');
