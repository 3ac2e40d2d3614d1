/**
 * Data: puzzle generators, the official on-disk format (§0), augmentations, the loader's batching
 * (§4) and the ARC evaluator (§8). See the individual files for the behaviour each one mirrors.
 */
export { type BoundaryError, formatBoundaryError } from '../io/errors.js';
export {
  type Dataset,
  type Metadata,
  type PuzzleSet,
  type Split,
  readDataset,
  readSplit,
  writeDataset,
} from './dataset.js';
export { decodeNpy, encodeNpy } from '../io/npy.js';
export { type Batch, type YieldedBatch, IGNORE_LABEL, testBatches, trainingBatches } from './batching.js';
export {
  BOXES,
  type Box,
  type SudokuItem,
  type SudokuSet,
  generateSudoku,
  generateSudokuSet,
  hasUniqueSolution,
  isConsistentPair,
} from './sudoku.js';
export { augmentSudoku } from './sudoku-augment.js';
export { generateSudokuSplits, splitDisjoint, sudokuDataset, sudokuFromCsv, sudokuSplit } from './sudoku-dataset.js';
export { type MazeItem, generateMaze, generateMazes, isShortestPathLabel, mazeDihedral } from './maze.js';
export { mazeDataset, mazesFromCsv } from './maze-dataset.js';
export { parsePuzzleCsv } from '../io/csv.js';
export { type ArcPuzzle, loadArcSubset, readTestPuzzles } from './arc-json.js';
export { buildArcDataset } from './arc-build.js';
export { addVotes, arcResult, emptyVotes, submissionJson, PASS_KS } from './evaluator.js';
