/** The part of (patched) fuse-native that ChaosFS uses; see native/patches/README.md for the patch. */
declare module 'fuse-native' {
  interface FuseOptions {
    fsname?: string;
    subtype?: string;
    allowOther?: boolean;
    defaultPermissions?: boolean;
    attrTimeout?: number;
    entryTimeout?: number;
    directIo?: boolean;
    bigWrites?: boolean;
    useIno?: boolean;
    hardRemove?: boolean;
    maxRead?: number;
    maxWrite?: number;
    timeout?: false | number;
    extraOptions?: string[];
  }
  class Fuse {
    constructor(mountpoint: string, ops: object, opts?: FuseOptions);
    mnt: string;
    mount(cb: (err: Error | null) => void): void;
    close(cb: (err: Error | null) => void): void;
    static unmount(mountpoint: string, cb: (err: Error | null) => void): void;
  }
  export = Fuse;
}
