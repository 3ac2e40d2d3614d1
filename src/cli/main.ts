/**
 * The `trm` command line. Each subcommand lives in its own file and returns an exit code;
 * this file only parses arguments and turns user mistakes into one line and exit code 2.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import type { Backend } from '../backend/backend.js';
import { createBackend, parseThreads } from '../accel/select.js';
import { DATA_OPTIONS, runDataCommand } from './data.js';
import { runCrosscheck } from './crosscheck.js';
import { DEFAULT_TOLERANCE, type Tolerance } from '../crosscheck/compare.js';
import { runDemoCommand } from './demo.js';
import { EXIT_BAD_INPUT, UsageError } from './errors.js';
import { runEvalCommand } from './eval.js';
import { runExportCommand, runImportCommand } from './export-import.js';
import { runParamsCommand } from './params.js';
import { runPlotCommand } from './plot.js';
import { runTraceCommand } from './trace.js';
import { runSolveCommand } from './solve.js';
import { runTrainCommand } from './train.js';
import { packageVersion } from './version.js';
import { PRESETS } from '../train/presets.js';

/** Creates the backend `--backend` / `--threads` name, runs `f` on it, and always releases it. */
const withBackend = async (
  o: { readonly backend: string; readonly threads?: string },
  f: (b: Backend) => number | Promise<number>,
): Promise<number> => {
  let backend: Backend;
  try {
    const threads = o.threads === undefined ? undefined : parseThreads(o.threads, '--threads');
    backend = await createBackend(o.backend, threads === undefined ? {} : { threads });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  try {
    return await f(backend);
  } finally {
    backend.close();
  }
};

const BACKEND_HELP =
  'kernels: auto (WebAssembly SIMD where available), wasm, js (tuned plain JS), reference (plain JS, the definition), gpujs (mode from TRM_GPUJS_MODE, default cpu)';
const THREADS_HELP =
  "threads for the WebAssembly backend's matrix products (default: TRM_THREADS, else every core; 1: no worker threads)";

interface CrosscheckFlags {
  readonly mode: 'teacher-forced' | 'free-running';
  readonly json?: boolean;
  readonly backend: string;
  readonly layout?: string;
  readonly rtol?: string;
  readonly atol?: string;
  readonly lossRtol?: string;
  readonly updateRtol?: string;
  readonly updateUlps?: string;
}

/** The tolerance of `--rtol`, `--atol`, … over the defaults; each a number ≥ 0. */
const toleranceFrom = (o: CrosscheckFlags): Tolerance => {
  const num = (flag: string, v: string | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag}: expected a number ≥ 0, got '${v}'`);
    return n;
  };
  const d = DEFAULT_TOLERANCE;
  return {
    rel: num('--rtol', o.rtol, d.rel),
    abs: num('--atol', o.atol, d.abs),
    lossRel: num('--loss-rtol', o.lossRtol, d.lossRel),
    updateRel: num('--update-rtol', o.updateRtol, d.updateRel),
    updateUlps: num('--update-ulps', o.updateUlps, d.updateUlps),
  };
};

export const buildProgram = (setExit: (code: number) => void): Command => {
  const program = new Command()
    .name('trm')
    .description('trm-ts: a TypeScript reference implementation of the Tiny Recursive Model (TRM)')
    .version(packageVersion(), '-V, --version', 'print the version of trm-ts')
    .option('--verbose', 'print stack traces for errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('crosscheck')
    .description(
      'replay traces recorded from another TRM implementation (train, eval or a training run) and compare every tensor, step by step',
    )
    .argument('<trace...>', 'trace files (safetensors, format trm-trace/1 or trm-trace/2)')
    .addOption(
      new Option(
        '--mode <mode>',
        'teacher-forced: each step starts from the recorded state (carry; parameters, optimizer state, EMA); free-running: from our own',
      )
        .choices(['teacher-forced', 'free-running'])
        .default('teacher-forced'),
    )
    .option('--json', 'print one JSON object on stdout')
    .option(
      '--layout <file>',
      "a layout map (YAML or JSON) for traces in a port's own names and layouts: docs/crosscheck.md",
    )
    .option('--rtol <x>', `tensors: relative tolerance, against max|ref| (default ${DEFAULT_TOLERANCE.rel})`)
    .option('--atol <x>', `tensors: absolute tolerance (default ${DEFAULT_TOLERANCE.abs})`)
    .option('--loss-rtol <x>', `losses and learning rates: relative tolerance (default ${DEFAULT_TOLERANCE.lossRel})`)
    .option(
      '--update-rtol <x>',
      `optimizer writes: relative to the recorded update (default ${DEFAULT_TOLERANCE.updateRel})`,
    )
    .option('--update-ulps <x>', `optimizer writes: float32 ulps of max|ref| (default ${DEFAULT_TOLERANCE.updateUlps})`)
    .option('--backend <name>', BACKEND_HELP, 'reference')
    .option('--threads <n>', THREADS_HELP)
    .addHelpText(
      'after',
      '\nExamples:\n  npx trm crosscheck test/fixtures/official/*.safetensors\n  npx trm crosscheck test/fixtures/train-run/*.safetensors\n  npx trm crosscheck my_trace.safetensors --mode free-running --json\n\nWith --verbose, one line per tensor. The format: docs/trace-format.md.\nExit codes: 0 all within tolerance, 1 mismatch, 2 bad input.',
    )
    .action(async (files: string[], o: CrosscheckFlags) =>
      setExit(
        await withBackend(o, (backend) =>
          runCrosscheck(files, {
            mode: o.mode,
            ...(o.layout === undefined ? {} : { layout: o.layout }),
            tolerance: toleranceFrom(o),
            json: o.json === true,
            verbose: program.opts().verbose === true,
            backend,
          }),
        ),
      ),
    );

  program
    .command('train')
    .description('train a TRM with the official loop (ACT carry, AdamATan2, SignSGD, EMA)')
    .argument('[overrides...]', 'key=value overrides, official style: arch.L_cycles=4 lr=1e-3')
    .option('--preset <name>', `preset: ${Object.keys(PRESETS).join(', ')}`)
    .option('--steps <n>', "stop after this optimizer step (default: the preset's total_steps)")
    .option('--resume <file>', 'continue a run from its checkpoint, bit-identically')
    .requiredOption('--out <dir>', 'run folder: checkpoint.safetensors, log.jsonl')
    .option('--time-budget <seconds>', 'stop (and save) after this much training time')
    .option('--checkpoint-every <n>', 'save the checkpoint every n steps', '100')
    .option('--json', 'print a final summary as one JSON object (progress stays on stderr)')
    .addHelpText(
      'after',
      '\nExamples:\n  npx trm train --preset sudoku4 --out runs/s4\n  npx trm train --preset sudoku4 --steps 400 --out runs/s4 arch.hidden_size=32 lr=2e-3\n  npx trm train --resume runs/s4/checkpoint.safetensors --steps 760 --out runs/s4',
    )
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .option('--threads <n>', THREADS_HELP)
    .action(async (overrides: string[], o) => setExit(await withBackend(o, (b) => runTrainCommand(overrides, o, b))));

  program
    .command('eval')
    .description('evaluate a checkpoint on held-out data')
    .requiredOption('--checkpoint <file>', 'a checkpoint written by trm train')
    .option('--data <dir>', "a dataset in the official format (test split); default: the preset's held-out split")
    .addOption(
      new Option('--halt <mode>', 'max: answer after N_sup steps (official); adaptive: at the first q_halt > 0')
        .choices(['max', 'adaptive'])
        .default('max'),
    )
    .option('--limit <n>', 'evaluate at most n puzzles')
    .option('--batch-size <n>', 'rows per forward pass', '128')
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExample:\n  npx trm eval --checkpoint runs/s4/checkpoint.safetensors --json')
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .option('--threads <n>', THREADS_HELP)
    .action(async (o) => setExit(await withBackend(o, (b) => runEvalCommand(o, b))));

  program
    .command('solve')
    .description('solve a Sudoku and show the answer after each supervision step')
    .requiredOption('--checkpoint <file>', 'a checkpoint written by trm train')
    .option('--puzzle <cells>', 'row-major cells, "." for blank, e.g. "1..4.4.....3.2.."')
    .option('--file <file>', 'read the puzzle from a file')
    .addOption(new Option('--halt <mode>', 'max or adaptive').choices(['max', 'adaptive']).default('max'))
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExample:\n  npx trm solve --checkpoint runs/s4/checkpoint.safetensors --puzzle "1..4.4.....3.2.."',
    )
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .option('--threads <n>', THREADS_HELP)
    .action(async (o) => setExit(await withBackend(o, (b) => runSolveCommand(o, b))));

  const data = program
    .command('data')
    .description('build datasets in the official on-disk format')
    .argument('<kind>', 'sudoku, maze or arc');
  for (const opt of DATA_OPTIONS)
    data.option(opt.flags, `${opt.description}${opt.default === undefined ? '' : ` (default ${opt.default})`}`);
  data
    .addHelpText(
      'after',
      '\nExamples:\n  npx trm data sudoku --size 9 --count 1000 --out data/sudoku9\n  npx trm data arc --prefix ../shared/data/arc/arc-agi --subsets training evaluation concept --test-set evaluation --num-aug 2 --out data/arc1',
    )
    .action(async (kind: string, o: Record<string, unknown>) => setExit(await runDataCommand(kind, o)));

  program
    .command('export')
    .description("write a checkpoint's weights as an official state_dict (safetensors, official key names)")
    .requiredOption('--checkpoint <file>', 'a checkpoint written by trm train')
    .requiredOption('--out <file>', 'output .safetensors')
    .option(
      '--prefix <prefix>',
      'key prefix (official: _orig_mod.model. with torch.compile, model. without)',
      '_orig_mod.model.',
    )
    .addOption(
      new Option('--weights <which>', 'ema (what the official code saves) or live')
        .choices(['ema', 'live'])
        .default('ema'),
    )
    .addHelpText(
      'after',
      '\nExample:\n  npx trm export --checkpoint runs/s4/checkpoint.safetensors --out s4-official.safetensors',
    )
    .option('--json', 'print what was written as one JSON object')
    .action((o) => setExit(runExportCommand(o)));

  program
    .command('import')
    .description('turn official weights (safetensors with state_dict names) into a trm checkpoint')
    .argument('<file>', 'official weights as safetensors')
    .requiredOption(
      '--config <file>',
      "YAML or JSON with the official config keys (a run's all_config.yaml works with --seq-len)",
    )
    .option(
      '--seq-len <n>',
      'seq_len, when the config file lacks it (vocab_size and num_puzzle_identifiers are read from the weights)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  npx trm import s4-official.safetensors --config s4-official.safetensors.config.json --out s4.safetensors\n  npx trm import step_65100.safetensors --config all_config.yaml --seq-len 81 --out sudoku.safetensors',
    )
    .requiredOption('--out <file>', 'output checkpoint')
    .option('--json', 'print what was written as one JSON object')
    .action((file: string, o: { config: string; out: string; seqLen?: string; json?: boolean }) =>
      setExit(runImportCommand({ file, ...o })),
    );

  program
    .command('plot')
    .description("draw a run's pictures from its log: loss, accuracy, learning rate, halting steps (SVG and PNG)")
    .argument('<log>', "a run's log.jsonl")
    .option('--out <dir>', "where to write (default: the log's folder)")
    .option('--json', 'print the files written as one JSON object')
    .addHelpText('after', '\nExample:\n  npx trm plot runs/s4/log.jsonl --out runs/s4/pictures')
    .action((log: string, o: { out?: string; json?: boolean }) => setExit(runPlotCommand(log, o)));

  program
    .command('trace')
    .description(
      'write a reference trace from trm-ts itself (weights, batch, every intermediate) for another implementation to compare against',
    )
    .option('--config <json|file>', 'inline JSON with the official config keys, or a YAML/JSON file')
    .option(
      '--init-from <trace>',
      "take the config, weights and batch from a train or eval trace (the official recorder's option)",
    )
    .option('--seed <n>', 'seed of the weights and batches', '0')
    .addOption(
      new Option(
        '--mode <mode>',
        "train: supervision steps with gradients (default, or the --init-from trace's); eval: no gradients; train-run: optimizer steps",
      ).choices(['train', 'eval', 'train-run']),
    )
    .option(
      '--steps <k>',
      'supervision steps (train, eval; default halt_max_steps + 1) or optimizer steps (train-run; default 6)',
    )
    .option(
      '--batch <file>',
      "take the batch from a safetensors file (a trace's batch/…, or a train-run's first batch)",
    )
    .addOption(
      new Option('--loss <type>', "loss (default stablemax_cross_entropy, or the --init-from trace's)").choices([
        'stablemax_cross_entropy',
        'softmax_cross_entropy',
      ]),
    )
    .option(
      '--train <json|file>',
      'train-run hyperparameters: lr, lr_min_ratio, lr_warmup_steps, total_steps, beta1, beta2, weight_decay, puzzle_emb_lr, puzzle_emb_weight_decay, ema, ema_rate',
    )
    .option('--blocks', "also record every block's output inside every update")
    .option(
      '--layout <file>',
      "write the trace in a port's own names and layouts, by a layout map (YAML or JSON) run backwards: docs/crosscheck.md",
    )
    .requiredOption('--out <file>', 'the trace to write (.safetensors)')
    .option('--json', 'print what was written as one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  npx trm trace --config \'{"vocab_size": 6, "seq_len": 9, "hidden_size": 32, "num_heads": 2, "batch_size": 4}\' --out ref.safetensors\n  npx trm trace --config all_config.yaml --mode train-run --steps 4 --train \'{"ema": true}\' --out run.safetensors\n  npx trm crosscheck ref.safetensors   # replays it with error 0\n\nThe format: docs/trace-format.md; comparing a port against it: docs/crosscheck.md.',
    )
    .option('--backend <name>', BACKEND_HELP, 'reference')
    .option('--threads <n>', THREADS_HELP)
    .action(async (o) => setExit(await withBackend(o, (b) => runTraceCommand(o, b))));

  program
    .command('params')
    .description(
      "list a config's parameters and buffers: official name, shape, memory layout, initial distribution (a port author's checklist)",
    )
    .requiredOption('--config <json|file>', 'inline JSON with the official config keys, or a YAML/JSON file')
    .option('--json', 'print {"params": [{"name", "shape", "kind", "layout", "init"}], "trainable_parameters"}')
    .addHelpText(
      'after',
      '\nExamples:\n  npx trm params --config \'{"vocab_size": 11, "seq_len": 81, "mlp_t": true, "pos_encodings": "none"}\'\n  npx trm params --config all_config.yaml --json',
    )
    .action((o: { config: string; json?: boolean }) => setExit(runParamsCommand(o)));

  program
    .command('bench')
    .description('benchmarks: matmul GFLOP/s and ms per training step on each backend, measured in one run')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]', 'passed to the bench: --json, --quick, --backend NAME, --sizes 512,1024')
    .addHelpText('after', '\nExamples:\n  npx trm bench --quick\n  npm run bench -- --json')
    .action((args: string[]) => {
      if (args.includes('--help') || args.includes('-h')) {
        process.stdout.write(
          'Usage: trm bench [--json] [--quick] [--backend NAME] [--sizes 512,1024]\n\nmatmul GFLOP/s and ms per training step for each backend, measured in the same run.\n\nExamples:\n  npx trm bench --quick\n  npm run bench -- --json\n',
        );
        setExit(0);
        return;
      }
      const script = fileURLToPath(new URL('../../bench/run.js', import.meta.url));
      const r = spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' });
      setExit(r.status ?? 1);
    });

  program
    .command('demo')
    .description('what npm start runs: train sudoku4, evaluate, solve one held-out puzzle step by step')
    .option('--out <dir>', 'run folder (default runs/<timestamp>)')
    .option('--budget <seconds>', 'training time budget', '210')
    .option('--eval-count <n>', 'held-out puzzles to evaluate', '512')
    .option('--json', 'print only the summary, as one JSON object (progress on stderr)')
    .addHelpText('after', '\nExamples:\n  npm start\n  npx trm demo --budget 600 --eval-count 1000')
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .option('--threads <n>', THREADS_HELP)
    .action(async (o) => setExit(await withBackend(o, (b) => runDemoCommand(o, b))));

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
