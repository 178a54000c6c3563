/**
 * Checks Kubernetes manifests against the Kubernetes API schemas as the kubernetes-models package
 * ships them (models generated from the official OpenAPI spec), in two passes:
 *
 *  1. the model's own `validate()`: a JSON-schema check of types, enums, required fields and
 *     formats (int-or-string, quantities);
 *  2. unknown fields. The OpenAPI schemas leave objects open, so `validate()` accepts a field that
 *     does not exist (a typo such as `readOnlyRootFileSystem` would pass, and be dropped by the
 *     API server or rejected by its strict field validation at apply time). The same package's
 *     TypeScript declarations close every object, so each manifest is type-checked as an object
 *     literal of its kind's declared type: the compiler rejects a property the type does not
 *     declare, at any depth, and any value of the wrong type.
 *
 * kubernetes-models is ESM only; this CommonJS test code loads it with import().
 */
import * as path from 'node:path';
import * as ts from 'typescript';
import { repoPath } from './repo-files';

export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly [field: string]: unknown;
}

/** A manifest with the name it is reported under (e.g. `deployment.yaml#0 Deployment/x`). */
export interface NamedManifest {
  readonly name: string;
  readonly manifest: Manifest;
}

// Group/version and kind become a module path: keep them to what Kubernetes allows.
const API_VERSION = /^([a-z0-9]([a-z0-9.-]*[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

/** `kubernetes-models/<group>/<version>/<Kind>`; the core group's version alone (`v1`) is a folder too. */
function modulePath(manifest: Manifest): string {
  if (!API_VERSION.test(manifest.apiVersion)) throw new Error(`apiVersion ${JSON.stringify(manifest.apiVersion)} is not a group/version`);
  if (!KIND.test(manifest.kind)) throw new Error(`kind ${JSON.stringify(manifest.kind)} is not a kind name`);
  return `kubernetes-models/${manifest.apiVersion}/${manifest.kind}`;
}

interface Model {
  validate(): void;
}

/** Pass 1: the problems `validate()` reports for one manifest (none: valid). */
export async function schemaProblems(manifest: Manifest): Promise<string[]> {
  const specifier = modulePath(manifest);
  let exported: Record<string, unknown>;
  try {
    exported = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    return [`${manifest.apiVersion} ${manifest.kind}: no such kind in kubernetes-models (${(error as Error).message})`];
  }
  const ModelClass = exported[manifest.kind] as (new (data: unknown) => Model) | undefined;
  if (typeof ModelClass !== 'function') return [`${specifier} exports no ${manifest.kind}`];
  try {
    new ModelClass(structuredClone(manifest)).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

/**
 * Pass 2: type-checks every manifest against `I<Kind>` from its kubernetes-models module, in one
 * compiler run. Returns each manifest's problems by name (an empty list: none).
 */
export function declarationProblems(manifests: readonly NamedManifest[]): Map<string, string[]> {
  // Virtual files under the repository root, so `kubernetes-models` resolves from its node_modules.
  const dir = repoPath('.kubernetes-schema-check');
  const sources = new Map<string, { name: string; text: string }>();
  manifests.forEach(({ name, manifest }, index) => {
    const text =
      `import type { I${manifest.kind} } from ${JSON.stringify(modulePath(manifest))};\n` +
      `export const manifest: I${manifest.kind} = ${JSON.stringify(manifest, null, 2)};\n`;
    sources.set(path.join(dir, `manifest-${index}.ts`), { name, text });
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts'],
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const source = sources.get(fileName);
    return source ? ts.createSourceFile(fileName, source.text, languageVersion, true) : getSourceFile.call(host, fileName, languageVersion, ...rest);
  };
  host.fileExists = (fileName) => sources.has(fileName) || fileExists.call(host, fileName);
  host.readFile = (fileName) => sources.get(fileName)?.text ?? readFile.call(host, fileName);

  const program = ts.createProgram([...sources.keys()], options, host);
  const problems = new Map<string, string[]>();
  for (const [fileName, { name, text }] of sources) {
    const sourceFile = program.getSourceFile(fileName)!;
    const lines = text.split('\n');
    const diagnostics = [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)];
    problems.set(
      name,
      diagnostics.map((diagnostic) => {
        const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
        if (diagnostic.start === undefined) return message;
        const { line } = sourceFile.getLineAndCharacterOfPosition(diagnostic.start);
        return `${lines[line]!.trim()}: ${message}`;
      }),
    );
  }
  return problems;
}

/** Both passes over every manifest; the problems of each, by name (an empty list: valid). */
export async function validateManifests(manifests: readonly NamedManifest[]): Promise<Map<string, string[]>> {
  const problems = declarationProblems(manifests);
  for (const { name, manifest } of manifests) problems.get(name)!.unshift(...(await schemaProblems(manifest)));
  return problems;
}
