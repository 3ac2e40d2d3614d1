export * from './primitives.js';
export * from './fused.js';
export * from './composites.js';
