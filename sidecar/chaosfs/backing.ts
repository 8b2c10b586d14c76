/**
 * The backing directory's flags: ChaosFS holds the volume's root as an O_PATH fd (chaosfs.ts), and the
 * binding opens every name beneath it one component at a time with O_PATH|O_NOFOLLOW (native/fuse-native
 * src/inodes.c), so no symlink or `..` planted by the app leads out of the volume.
 */

/** Not in fs.constants; the same value on x86_64 and aarch64. */
export const O_PATH = 0o10000000;
