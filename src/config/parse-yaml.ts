/**
 * YAML text → plain data (mappings, lists, scalars), parsed strictly: a repeated key is an error,
 * merge keys are off and aliases are bounded. Syntax problems are recorded with their line and
 * column, never with the text around them.
 */
import { parseDocument } from 'yaml';
import type { Problems } from './fields';

/** The document as plain data; undefined, with problems recorded, when it does not parse. */
export function parseYaml(text: string, problems: Problems): unknown {
  // uniqueKeys: a repeated key would otherwise silently win; merge keys stay off (YAML 1.2).
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  for (const error of doc.errors) {
    const position = error.linePos?.[0] ?? { line: 0, col: 0 };
    problems.addAt(position.line, position.col, `YAML syntax: ${syntaxMessage(error.message)}`);
  }
  if (doc.errors.length > 0) return undefined;
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    problems.add('', `YAML: ${syntaxMessage(err instanceof Error ? err.message : String(err))}`);
    return undefined;
  }
}

/**
 * The yaml library appends the position and a snippet of the offending line, and some messages
 * quote the token: either could be a pasted key, so only the leading description is kept.
 */
function syntaxMessage(message: string): string {
  const firstLine = message.split('\n')[0] ?? '';
  return firstLine.replace(/ at line \d+, column \d+:?$/, '').replace(/:.*$/, '');
}
