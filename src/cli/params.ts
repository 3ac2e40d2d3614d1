/**
 * `trm params`: every parameter and buffer of a config, with its official name, shape, memory
 * layout and initial distribution: the checklist of a port author.
 */
import * as E from 'fp-ts/lib/Either.js';
import { shapeStr } from '../core/shape.js';
import { type Init, type Layout, type NamedTensor, countParams, officialLayout } from '../trm/params.js';
import { readConfigArg } from './config-file.js';
import { EXIT_OK, UsageError } from './errors.js';

const fmt = (v: number): string => String(Number(v.toPrecision(6)));

export const formatInit = (init: Init): string => {
  switch (init.dist) {
    case 'trunc_normal':
      return `truncated normal, std ${fmt(init.std)}`;
    case 'zeros':
      return 'zeros';
    case 'constant':
      return `constant ${fmt(init.value)}`;
  }
};

export const formatLayout = (layout: Layout): string => {
  const axes = `[${layout.axes.join(', ')}]`;
  if (layout.fused.length === 0) return axes;
  const parts = layout.fused.map((f) => `${f.part} ${f.rows[0]}:${f.rows[1]}`).join(' | ');
  const within = layout.fused[0]!.within;
  const each = within === undefined ? '' : `, each [${within.axes.join(', ')}] = ${shapeStr(within.shape)}`;
  return `${axes}, ${layout.axes[0]} rows ${parts}${each}`;
};

const jsonRow = (r: NamedTensor) => ({
  name: r.name,
  shape: r.shape,
  kind: r.trainable ? 'parameter' : 'buffer',
  layout: r.layout,
  init: r.init,
});

export const runParamsCommand = (o: { config: string; json?: boolean }): number => {
  const cfg = readConfigArg(o.config);
  if (E.isLeft(cfg)) throw new UsageError(cfg.left);
  const rows = officialLayout(cfg.right);
  const trainable = countParams(cfg.right);
  if (o.json === true) {
    process.stdout.write(`${JSON.stringify({ params: rows.map(jsonRow), trainable_parameters: trainable })}\n`);
    return EXIT_OK;
  }
  const table = [
    ['name', 'shape', 'kind', 'layout', 'init'],
    ...rows.map((r) => [
      r.name,
      shapeStr(r.shape),
      r.trainable ? 'parameter' : 'buffer',
      formatLayout(r.layout),
      formatInit(r.init),
    ]),
  ];
  const widths = table[0]!.map((_, j) => Math.max(...table.map((row) => row[j]!.length)));
  const lines = table.map((row) => row.map((c, j) => (j === row.length - 1 ? c : c.padEnd(widths[j]!))).join('  '));
  process.stdout.write(
    [
      "Official state_dict names (a checkpoint prefixes them '_orig_mod.model.' or 'model.').",
      'Layout: row-major; a linear weight is PyTorch [out, in] (y = x · Wᵀ).',
      '',
      ...lines,
      '',
      `trainable parameters: ${trainable.toLocaleString('en-US')} (buffers excluded)`,
      '',
    ].join('\n'),
  );
  return EXIT_OK;
};
