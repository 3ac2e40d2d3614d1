/**
 * fast-check runs from a fixed seed, so a failing law reproduces: the seed is printed on failure
 * (fast-check reports it with the counterexample). FC_SEED=N explores another stream of cases.
 */
import fc from 'fast-check';

const seed = process.env['FC_SEED'] === undefined ? 20_261_204 : Number(process.env['FC_SEED']);
if (!Number.isInteger(seed)) throw new Error(`FC_SEED must be an integer, got ${process.env['FC_SEED']}`);
fc.configureGlobal({ seed });
