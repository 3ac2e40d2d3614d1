/** Moving values between backends (browser-safe: no node:* imports). */
import { treeMap } from './tree.js';
import { type Tensor, fromStorage, storage } from './tensor.js';
import type { Backend } from '../backend/backend.js';

/** The same values on `backend` (shared storage: tensors are immutable). */
export const toBackend = <T>(tree: T, backend: Backend): T =>
  treeMap(tree, (t: Tensor) => (t.backend === backend ? t : fromStorage(t.shape, storage(t), backend)));
