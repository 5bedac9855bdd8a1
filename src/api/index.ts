// The public API of the config model: parse and validate user resources, analyze them together,
// turn them back into documents, and format issues.
export { parseDocuments, parseResource, API_VERSIONS, type ParseContext } from './parse.js';
export { analyze } from './analyze.js';
export { resourceToDocument } from './to-document.js';
export { formatIssue, formatPath, type IssueCode } from './issues.js';
export { parseDurationMs, formatDurationMs } from './duration.js';
export { re2Error } from './regex.js';
export { originOf, type Origin } from './origin.js';
export * from './types.js';
export * from './mesh-snapshot.js';
