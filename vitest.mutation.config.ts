/**
 * The tests a mutation run (npm run test:mutation, stryker.config.json) judges mutants by: the
 * laws in spec/ and the in-process golden replays on the reference backend. Not the CLI, browser
 * or child-process tests, nor the replays on the accelerated backends (their kernels are not
 * mutated; the model code they run is covered on the reference backend).
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'spec/**/*.spec.ts',
      'test/golden.test.ts',
      'test/crosscheck-train-run.test.ts',
      'test/crosscheck-layout.test.ts',
      'test/ops.test.ts',
      'test/tensor.test.ts',
    ],
    setupFiles: ['test/setup/fast-check.ts'],
    testTimeout: 120_000,
    pool: 'forks',
  },
});
