export { IndexDomain, formatDomain } from './domain.js';
export { IndexTransform } from './transform.js';
export type { OutputMap, Selection, SelectionTerm } from './transform.js';
