/**
 * The chaosfs sidecar's two security profiles, and every capability it really uses with the code
 * that uses it. webhook/README.md repeats this list; test/webhook/sidecar-profile.test.ts holds the
 * list to the running daemon (an injection under exactly these capabilities works, and fails
 * without CAP_SYS_PTRACE).
 */
import type { V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node';

/**
 * `privileged` (the default): every capability, every device, no seccomp or AppArmor filter. It stays
 * the default because the capabilities profile needs two things a pod spec cannot ask for on every
 * runtime: the container's device cgroup must allow /dev/fuse (char 10:229; the default device rules
 * of runc-based runtimes allow it only in privileged containers, unless a device plugin or the
 * runtime's configuration adds it), and Pod Security `privileged` either way.
 *
 * `capabilities`: `privileged: false`, all capabilities dropped and exactly SIDECAR_CAPABILITIES
 * added, /dev/fuse from the node (hostPath, CharDevice), seccomp and AppArmor unconfined.
 */
export const SIDECAR_PROFILES = ['privileged', 'capabilities'] as const;
export type SidecarProfile = (typeof SIDECAR_PROFILES)[number];

export const isSidecarProfile = (v: string): v is SidecarProfile =>
  (SIDECAR_PROFILES as readonly string[]).includes(v);

/** Every capability the daemon, its workers and the native helpers use, and what for. */
export const SIDECAR_CAPABILITIES: readonly { cap: string; why: string }[] = [
  {
    cap: 'SYS_ADMIN',
    why:
      'mount(2) of the FUSE file system (libfuse mounts directly as root), open_tree(OPEN_TREE_CLONE) + ' +
      "move_mount(2) to stack it in the app's mount namespace and umount2(2) at recovery (native/mount.c), " +
      "setns(2) into the app's namespaces (native/nsexec.c, native/mount.c)",
  },
  {
    cap: 'SYS_CHROOT',
    why: "chroot(2) into the app container's root after setns (native/mount.c, native/nsexec.c)",
  },
  {
    cap: 'SYS_PTRACE',
    why:
      "PTRACE_SEIZE of the app's threads, pidfd_getfd(2), process_vm_readv/writev(2) and kcmp(2) for the " +
      'fd swap (native/fdswap.c, native/ptrace.c); /proc/PID/{root,fd,ns} of processes of other users',
  },
  {
    cap: 'KILL',
    why:
      'tgkill(2) re-delivers signals that arrived while app threads were held, and kill(pid, 0) checks ' +
      'liveness, on processes of other users (native/ptrace.c, native/fdswap.c)',
  },
  {
    cap: 'SYS_RESOURCE',
    why: "prlimit(2) raises the app's RLIMIT_NOFILE for the spare fds of the swap, and its own (native/fdswap.c)",
  },
  {
    cap: 'SETUID',
    why: "setfsuid(2): fdswap opens the app's files on the other mount with the app's own fsuid (native/identity.c)",
  },
  {
    cap: 'SETGID',
    why: "setfsgid(2) and setgroups(2): the same opens with the app's fsgid and groups (native/identity.c)",
  },
  {
    cap: 'DAC_OVERRIDE',
    why:
      'the pass-through opens, reads, writes and walks files of any owner in the volume as root, after ' +
      "the kernel checked the app's access (native/fuse-native/src/ops.c); fdswap reopens them",
  },
  {
    cap: 'FOWNER',
    why:
      'chmod, utimens and xattr calls passed through on files root does not own ' +
      '(native/fuse-native/src/ops.c)',
  },
  {
    cap: 'FSETID',
    why: 'chmod and writes passed through keep set-user/group-ID bits as the app asked (the kernel clears them otherwise)',
  },
  {
    cap: 'CHOWN',
    why: 'chown passed through, and a created file, directory, node or link given to its creator (lchown)',
  },
  {
    cap: 'MKNOD',
    why: 'mknod(2) passed through for an app that creates device nodes (containers get CAP_MKNOD by default)',
  },
];

export const FUSE_VOLUME_NAME = 'iochaos-fuse';
export const FUSE_DEVICE = '/dev/fuse';

export interface ProfileParts {
  securityContext: V1SecurityContext;
  volumeMounts: V1VolumeMount[];
  volumes: V1Volume[];
}

export function profileParts(profile: SidecarProfile): ProfileParts {
  if (profile === 'privileged') {
    return {
      // The daemon must be root: it acts on files and processes of every user in the pod.
      securityContext: { privileged: true, runAsUser: 0, runAsNonRoot: false },
      volumeMounts: [],
      volumes: [],
    };
  }
  return {
    securityContext: {
      privileged: false,
      runAsUser: 0,
      runAsNonRoot: false,
      // allowPrivilegeEscalation is left unset: the API server refuses `false` next to CAP_SYS_ADMIN.
      capabilities: { drop: ['ALL'], add: SIDECAR_CAPABILITIES.map((c) => c.cap) },
      // The runtimes' default seccomp profiles allow mount, setns, ptrace & co. only when they see
      // the capability, and older ones lack open_tree, move_mount, openat2 or pidfd_getfd at all; the
      // default AppArmor profiles (docker-default, cri-containerd) deny mount outright.
      seccompProfile: { type: 'Unconfined' },
      appArmorProfile: { type: 'Unconfined' },
    },
    volumeMounts: [{ name: FUSE_VOLUME_NAME, mountPath: FUSE_DEVICE }],
    volumes: [{ name: FUSE_VOLUME_NAME, hostPath: { path: FUSE_DEVICE, type: 'CharDevice' } }],
  };
}
