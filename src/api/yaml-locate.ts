// Maps a JSON path inside a parsed YAML document to the 1-based line of its node: the key's line
// for a mapping field, the item's line for a list entry, else the nearest existing ancestor's.
import type { Document, LineCounter, Node } from 'yaml';
import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { PathSegment } from './issues.js';

export type LineOf = (path: readonly PathSegment[]) => number | undefined;

export function createLineOf(doc: Document, counter: LineCounter): LineOf {
  const lineAt = (node: unknown): number | undefined => {
    const range = (node as Node | null)?.range;
    return range ? counter.linePos(range[0]).line : undefined;
  };
  return (path) => {
    let node: unknown = doc.contents;
    let line = lineAt(node);
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
        if (!pair) break;
        line = lineAt(pair.key) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) break;
        line = lineAt(item) ?? line;
        node = item;
      } else break;
    }
    return line;
  };
}
