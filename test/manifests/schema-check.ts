import { join } from 'node:path';
import ts from 'typescript';
import { root, type K8sObject } from './manifest-tree.js';
import { describeObject, type Rendered } from './rendered.js';

// Offline schema checks for rendered manifests, from the kubernetes-models packages: the
// Kubernetes API (kubernetes-models) and the CRDs this repository uses (Istio, Strimzi,
// Prometheus Operator, ArgoCD). Two checks, because the packages' compiled validators accept
// fields their schema does not declare, while a typo (`readinesProbe`) must fail like
// `kubeconform -strict` or `kubectl apply --validate=strict` fails it:
//   1. schema: each object's model validates it (types, enums, formats, required fields);
//   2. strict: each object is type-checked as an object literal of the model's TypeScript
//      interface, which the packages generate from the same schemas, so TypeScript's excess
//      property check names every field the schema does not know.

/** The package that models an API group (kubernetes-models is every built-in group). */
function packageOf(group: string): string | undefined {
  if (group === '' || group === 'apps' || group === 'batch' || group === 'policy' || group === 'autoscaling')
    return 'kubernetes-models';
  if (group.endsWith('.k8s.io')) return 'kubernetes-models';
  if (group.endsWith('.istio.io')) return '@kubernetes-models/istio';
  if (group.endsWith('.strimzi.io')) return '@kubernetes-models/strimzi-kafka-operator';
  if (group === 'monitoring.coreos.com') return '@kubernetes-models/prometheus-operator';
  if (group === 'argoproj.io') return '@kubernetes-models/argo-cd';
  return undefined;
}

/** The module that exports `apiVersion`/`kind`'s model class and its `I<Kind>` interface. */
export function modelModule(doc: Pick<K8sObject, 'apiVersion' | 'kind'>): string | undefined {
  const [group, version] = doc.apiVersion.includes('/') ? doc.apiVersion.split('/') : ['', doc.apiVersion];
  const pkg = packageOf(group!);
  if (pkg === undefined || !/^[A-Za-z0-9]+$/.test(doc.kind)) return undefined;
  return group === '' ? `${pkg}/${version}/${doc.kind}` : `${pkg}/${group}/${version}/${doc.kind}`;
}

/**
 * Kinds whose CRD declares no schema for `spec` (`x-kubernetes-preserve-unknown-fields`), so no
 * package can check it: only their metadata is checked here, the spec by the tool that reads it.
 */
export const SPEC_WITHOUT_SCHEMA: Record<string, string> = {
  'install.istio.io/v1alpha1 IstioOperator': 'istioctl validates it (`istioctl manifest generate -f`)',
};

/**
 * Secret data as the API server reads it: kustomize wraps long base64 values over several lines,
 * and the server's base64 decoder (Go's) skips newlines, while the package's `byte` format does not.
 */
function unwrapSecretData(doc: K8sObject): K8sObject {
  const data = (doc as { data?: Record<string, string> }).data;
  if (doc.kind !== 'Secret' || data === undefined) return doc;
  const unwrapped = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.replace(/\r?\n/g, '')]));
  return { ...doc, data: unwrapped } as K8sObject;
}

/** The object with its `spec` removed when its kind has no schema for it. */
function checkable(doc: K8sObject): K8sObject {
  if (!(`${doc.apiVersion} ${doc.kind}` in SPEC_WITHOUT_SCHEMA)) return doc;
  const { spec: _spec, ...rest } = doc;
  return rest;
}

type Model = new (data: unknown) => { validate(): void };

/** Schema check: every problem the objects' models report, as `<source>: <Kind ns/name>: <error>`. */
export async function schemaErrors(objects: readonly Rendered[]): Promise<string[]> {
  const errors: string[] = [];
  for (const { source, doc } of objects) {
    const module = modelModule(doc);
    const where = `${source}: ${describeObject(doc)}`;
    if (module === undefined) {
      errors.push(`${where}: no schema is known for ${doc.apiVersion} ${doc.kind}`);
      continue;
    }
    let model: Model;
    try {
      model = ((await import(module)) as Record<string, Model>)[doc.kind]!;
    } catch {
      errors.push(`${where}: ${doc.apiVersion} has no kind ${doc.kind} (no module ${module})`);
      continue;
    }
    try {
      new model(structuredClone(unwrapSecretData(doc))).validate();
    } catch (error) {
      errors.push(`${where}: ${(error as Error).message}`);
    }
  }
  return errors;
}

/** The file the strict check type-checks; it exists only in memory, beside this module. */
const CHECK_FILE = join(root, 'test/manifests/rendered-objects.check.ts');

const COMPILER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2022.d.ts'],
  types: [],
};

/** The check file's text and where each object's literal starts in it. */
function checkSource(objects: readonly Rendered[]): { text: string; starts: number[] } {
  const modules = new Map<string, string>();
  const imports: string[] = [];
  const bodies: string[] = [];
  for (const [index, { doc }] of objects.entries()) {
    const module = modelModule(doc);
    if (module === undefined) {
      bodies.push(`export const o${index} = {};\n`);
      continue;
    }
    let alias = modules.get(module);
    if (alias === undefined) {
      alias = `T${modules.size}`;
      modules.set(module, alias);
      imports.push(`import type { I${doc.kind} as ${alias} } from '${module}';\n`);
    }
    bodies.push(`export const o${index}: ${alias} = ${JSON.stringify(checkable(doc), null, 2)};\n`);
  }
  let offset = imports.join('').length;
  const starts = bodies.map((body) => {
    const start = offset;
    offset += body.length;
    return start;
  });
  return { text: imports.join('') + bodies.join(''), starts };
}

/**
 * Strict check: every field an object sets that its schema does not declare (and any type the
 * schema check missed), as `<source>: <Kind ns/name>: <TypeScript's message> (at <line>)`.
 */
export function strictErrors(objects: readonly Rendered[]): string[] {
  const { text, starts } = checkSource(objects);
  const host = ts.createCompilerHost(COMPILER_OPTIONS);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, language, ...rest) =>
    file === CHECK_FILE
      ? ts.createSourceFile(file, text, language, true)
      : getSourceFile(file, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => file === CHECK_FILE || fileExists(file);
  const program = ts.createProgram([CHECK_FILE], COMPILER_OPTIONS, host);
  const source = program.getSourceFile(CHECK_FILE)!;
  return ts.getPreEmitDiagnostics(program, source).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    const start = diagnostic.start ?? 0;
    let index = starts.findLastIndex((objectStart) => objectStart <= start);
    if (index < 0) index = 0;
    const { line } = source.getLineAndCharacterOfPosition(start);
    const lineText = text.split('\n')[line]?.trim() ?? '';
    const { source: from, doc } = objects[index]!;
    return `${from}: ${describeObject(doc)}: ${message} (at ${lineText})`;
  });
}
