// YAML in and out. Input: multi-document YAML (or JSON), YAML 1.2 core schema (so `10:14PM`,
// `2019-02-14T04:53:58Z` and `yes` stay strings). A document that is empty or only comments is
// skipped. Syntax problems are reported with the document number and line.

import { LineCounter, parseAllDocuments, stringify } from 'yaml';

export interface RawDocument {
  /** File name (or "-" for stdin) the document came from. */
  source: string;
  /** 1-based position of the document in its source, counting skipped empty ones. */
  index: number;
  /** 1-based line where the document starts. */
  line: number;
  value: unknown;
}

export interface YamlProblem {
  source: string;
  index: number;
  line: number;
  message: string;
}

export function parseYamlDocuments(
  text: string,
  source: string,
): { documents: RawDocument[]; problems: YamlProblem[] } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const documents: RawDocument[] = [];
  const problems: YamlProblem[] = [];
  const list = Array.isArray(docs) ? docs : [];
  list.forEach((doc, i) => {
    const index = i + 1;
    const line = lineCounter.linePos(doc.range[0]).line;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const at = err.linePos?.[0]?.line ?? lineCounter.linePos(err.pos[0]).line;
        problems.push({ source, index, line: at, message: firstLine(err.message) });
      }
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    documents.push({ source, index, line, value });
  });
  return { documents, problems };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

export function formatYamlProblem(p: YamlProblem): string {
  return `${p.source}: document ${p.index}, line ${p.line}: ${p.message}`;
}

/** One YAML document, block style, no line folding. */
export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, minContentWidth: 0 });
}
