/**
 * The one interface every fault kind implements, and the call it sees. ChaosFS calls each kind only
 * through these hooks (like toda's injector trait), so a new kind is one small file in kinds/.
 */
import type { Operation } from './methods';
import type { Method } from '../api/fault-spec';
import type { Random } from './random';

/** One file-system call as the rules see it. */
export interface FsCall {
  readonly op: Operation;
  readonly methods: readonly Method[];
  /** Relative to the volume root, without a leading slash; '' for the root itself. */
  readonly path: string;
  /** Bytes asked for (read) or given (write). */
  readonly length?: number;
  /** File offset of a read or write. */
  readonly offset?: number;
  /** The size a truncate (truncate, ftruncate) sets the file to. */
  readonly size?: number;
  /** The file's size before a write or truncate, for kinds that account growth; asked only when needed. */
  readonly currentSize?: () => Promise<number>;
}

/** The attributes a getattr reply carries, in the units the kernel wants. */
export interface Attributes {
  ino: bigint;
  mode: number;
  nlink: bigint;
  uid: number;
  gid: number;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface FaultContext {
  readonly random: Random;
  /** Aborted when the rule is cleared or replaced: waits end at once. */
  readonly signal: AbortSignal;
}

export interface Fault {
  /** Before the call reaches the backing: may wait, or fail it by returning a positive errno. */
  before?(call: FsCall, ctx: FaultContext): Promise<number | void> | number | void;
  /** After a successful read: may change the bytes the app gets. */
  read?(call: FsCall, data: Buffer, ctx: FaultContext): void;
  /** Before a write reaches the backing: may change the bytes stored (FUSE's copy, not the app's). */
  write?(call: FsCall, data: Buffer, ctx: FaultContext): void;
  /** After a successful write or truncate: how much the file grew. */
  grew?(bytes: number): void;
  /** On a getattr reply: may change what the app sees. */
  attributes?(call: FsCall, attr: Attributes, ctx: FaultContext): void;
  /** On a statfs reply (`df`): may lower the free space reported. Asked of every rule, matched or not. */
  space?(space: Space): Space;
}

/** The free-space part of a statfs reply, in blocks of `bsize` bytes. */
export interface Space {
  bsize: number;
  bfree: number;
  bavail: number;
}
