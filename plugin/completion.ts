/**
 * Shell completion. `kubectl iochaos completion bash|zsh` prints a script for `kubectl-iochaos` run
 * directly; kubectl (1.26+) completes `kubectl iochaos ...` by running `kubectl_complete-iochaos`
 * (shipped next to the plugin), which prints candidates in cobra's `__complete` format. Both ask
 * `kubectl-iochaos __complete WORDS... CURRENT`, answered here from the command table, offline and
 * fast: no cluster is asked while a person types.
 */
import * as os from 'node:os';
import { METHODS } from '../sidecar/api/fault-spec';
import { usageError } from './errors';

export interface CommandFlags {
  name: string;
  flags: string[];
}

/** Values worth offering for some flags. */
const VALUES: Record<string, readonly string[]> = {
  '--errno': Object.keys(os.constants.errno),
  '--methods': METHODS,
  '--output': ['json', 'yaml', 'wide', 'name', 'jsonpath='],
  '-o': ['json', 'yaml', 'wide', 'name', 'jsonpath='],
  '--dry-run': ['none', 'client', 'server'],
  '--filling': ['zero', 'random'],
  '--kind': ['regularFile', 'directory', 'symlink', 'namedPipe', 'charDevice', 'blockDevice', 'socket'],
};
const TARGET_KINDS = ['pid/', 'pod/', 'deployment/', 'statefulset/'];

/** Candidates for the word being typed (`current`), after the words before it. */
export function complete(commands: CommandFlags[], words: string[], current: string): string[] {
  const starts = (c: string) => c.startsWith(current);
  const cmd = commands.find((c) => c.name === words[0]);
  if (!cmd) return commands.map((c) => c.name).filter(starts);
  if (cmd.name === 'completion') return words.length === 1 ? ['bash', 'zsh'].filter(starts) : [];
  const previous = words.at(-1) ?? '';
  if (VALUES[previous] && !current.startsWith('-')) {
    // --methods read,wr<TAB>: complete the last item of the list.
    const done = previous === '--methods' ? current.slice(0, current.lastIndexOf(',') + 1) : '';
    return VALUES[previous].map((v) => done + v).filter(starts);
  }
  if (current.startsWith('-')) return cmd.flags.filter(starts);
  const positional = words.slice(1).some((w) => !w.startsWith('-'));
  return positional ? [] : TARGET_KINDS.filter(starts);
}

/** cobra's ShellCompDirectiveNoFileComp: the shell must not fall back to file names. */
const NO_FILE_COMP = 4;

export function cobraOutput(candidates: string[]): string {
  return [...candidates, `:${NO_FILE_COMP}`].join('\n') + '\n';
}

export function script(shell: string): string {
  if (shell === 'bash') {
    return `# kubectl-iochaos bash completion: source <(kubectl-iochaos completion bash)
_kubectl_iochaos() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\\n'
  COMPREPLY=($(kubectl-iochaos __complete "\${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null | grep -v '^:'))
}
complete -o nospace -F _kubectl_iochaos kubectl-iochaos
`;
  }
  if (shell === 'zsh') {
    return `#compdef kubectl-iochaos
# kubectl-iochaos zsh completion: source <(kubectl-iochaos completion zsh)
_kubectl_iochaos() {
  local -a candidates
  candidates=("\${(@f)$(kubectl-iochaos __complete "\${(@)words[2,CURRENT-1]}" "\${words[CURRENT]}" 2>/dev/null | grep -v '^:')}")
  compadd -S '' -- $candidates
}
compdef _kubectl_iochaos kubectl-iochaos
`;
  }
  throw usageError(
    `completion ${shell}: no such shell here`,
    'use: kubectl iochaos completion bash (or zsh)',
  );
}
