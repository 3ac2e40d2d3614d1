/** Dependency-free SVG / text visualisations: training curves, per-step accuracy, Sudoku refinement. */
export { esc, num, el, text, svgDoc, hashId, textWidth, PALETTE, colorAt } from './svg.js';
export type { Attrs, AttrValue } from './svg.js';
export {
  lineChart,
  barChart,
  trainingCharts,
  stepAccuracyChart,
  parseTrainingLog,
  niceStep,
  linearTicks,
  formatTick,
  formatLogTick,
  formatValue,
} from './charts.js';
export type {
  Point,
  Series,
  LineChartOptions,
  Bar,
  BarChartOptions,
  TrainingLogRow,
  TrainingChartOptions,
} from './charts.js';
export { refinementBoard, boardText, defaultBox } from './board.js';
export type { BoxShape, RefinementStep, RefinementBoardOptions, BoardTextOptions } from './board.js';
