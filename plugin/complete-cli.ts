#!/usr/bin/env node
/**
 * `kubectl_complete-iochaos`: kubectl (1.26+) runs it to complete `kubectl iochaos ...`, with the
 * plugin's words and the one being typed as arguments; it prints candidates in cobra's format.
 */
import { cobraOutput, complete } from './completion';
import { commandTable } from './flags';

const args = process.argv.slice(2);
process.stdout.write(cobraOutput(complete(commandTable(), args.slice(0, -1), args.at(-1) ?? '')));
