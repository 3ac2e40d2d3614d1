/**
 * Explicit, splittable, JAX-style randomness: keys (`key`, `split`, `foldIn`, Threefry-2x32 bits)
 * and the samplers and special functions built on them. See key.ts and sample.ts.
 */
export * from './key.js';
export * from './sample.js';
