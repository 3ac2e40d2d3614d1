/**
 * User-facing errors: one clear line on stderr and exit code 2 (bad input). `--verbose` adds the
 * stack. Anything else that escapes is a bug and is reported as such.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_MISMATCH = 1;
export const EXIT_BAD_INPUT = 2;
