/**
 * The `trm` command line. Each subcommand lives in its own file and returns an exit code;
 * this file only parses arguments and turns user mistakes into one line and exit code 2.
 */
import { Command, CommanderError, Option } from 'commander';
import type { Backend } from '../backend/backend.js';
import { reference } from '../backend/reference.js';
import { runCrosscheck } from './crosscheck.js';
import { EXIT_BAD_INPUT, UsageError } from './errors.js';

const backendByName = async (name: string): Promise<Backend> => {
  switch (name) {
    case 'reference':
      return reference;
    default:
      throw new UsageError(`unknown backend '${name}' (available: reference)`);
  }
};

export const buildProgram = (setExit: (code: number) => void): Command => {
  const program = new Command()
    .name('trm')
    .description('trm-ts: a TypeScript reference implementation of the Tiny Recursive Model (TRM)')
    .option('--verbose', 'print stack traces for errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('crosscheck')
    .description('replay trm-trace/1 files recorded from another TRM implementation and compare every tensor, step by step')
    .argument('<trace...>', 'trace files (safetensors, format trm-trace/1)')
    .addOption(new Option('--mode <mode>', 'teacher-forced: each step starts from the recorded carry; free-running: from our own').choices(['teacher-forced', 'free-running']).default('teacher-forced'))
    .option('--json', 'print one JSON object on stdout')
    .option('--backend <name>', 'kernel backend', 'reference')
    .addHelpText('after', '\nExamples:\n  npx trm crosscheck test/fixtures/official/*.safetensors\n  npx trm crosscheck my_trace.safetensors --mode free-running --json\n\nExit codes: 0 all within tolerance, 1 mismatch, 2 bad input.')
    .action(async (files: string[], o: { mode: 'teacher-forced' | 'free-running'; json?: boolean; backend: string }) => {
      const backend = await backendByName(o.backend);
      try {
        setExit(runCrosscheck(files, { mode: o.mode, json: o.json === true, verbose: program.opts().verbose === true, backend }));
      } finally {
        backend.close();
      }
    });

  return program;
};

export const main = async (argv: readonly string[]): Promise<number> => {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed its message (or the help); --help and --version exit 0.
      return e.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
    }
    const verbose = argv.includes('--verbose');
    if (e instanceof UsageError) {
      process.stderr.write(`trm: ${e.message}\n`);
      if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
      return EXIT_BAD_INPUT;
    }
    process.stderr.write(`trm: internal error: ${(e as Error).message ?? String(e)}\n`);
    if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    else process.stderr.write('(run with --verbose for the stack trace; this is a bug, please report it)\n');
    return 70;
  }
};
