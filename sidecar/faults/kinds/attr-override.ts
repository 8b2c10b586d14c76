/** `attrOverride`: getattr replies carry the given attributes instead of the real ones. */
import * as fs from 'node:fs';
import type { FileKind, RuleOf } from '../../api/fault-spec';
import type { Fault } from '../fault';

const { S_IFMT, S_IFIFO, S_IFCHR, S_IFBLK, S_IFDIR, S_IFREG, S_IFLNK, S_IFSOCK } = fs.constants;
const KIND_BITS: Record<FileKind, number> = {
  namedPipe: S_IFIFO,
  charDevice: S_IFCHR,
  blockDevice: S_IFBLK,
  directory: S_IFDIR,
  regularFile: S_IFREG,
  symlink: S_IFLNK,
  socket: S_IFSOCK,
};

const ns = (t: { sec: number; nsec: number }) => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);

export function attrOverride(rule: RuleOf<'attrOverride'>): Fault {
  const a = rule.attr;
  return {
    attributes(_call, attr) {
      if (a.ino !== undefined) attr.ino = BigInt(a.ino);
      if (a.size !== undefined) attr.size = BigInt(a.size);
      if (a.blocks !== undefined) attr.blocks = BigInt(a.blocks);
      if (a.atime) attr.atimeNs = ns(a.atime);
      if (a.mtime) attr.mtimeNs = ns(a.mtime);
      if (a.ctime) attr.ctimeNs = ns(a.ctime);
      if (a.kind !== undefined) attr.mode = (attr.mode & ~S_IFMT) | KIND_BITS[a.kind];
      if (a.perm !== undefined) attr.mode = (attr.mode & S_IFMT) | a.perm;
      if (a.nlink !== undefined) attr.nlink = BigInt(a.nlink);
      if (a.uid !== undefined) attr.uid = a.uid;
      if (a.gid !== undefined) attr.gid = a.gid;
      if (a.rdev !== undefined) attr.rdev = BigInt(a.rdev);
    },
  };
}
