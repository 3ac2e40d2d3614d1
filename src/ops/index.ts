export * from './primitives.js';
export * from './composites.js';
