import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

// Loading deploy/ and istio/ the way kustomize does, without kustomize: overlays are resolved by
// following their resources/components lists (which also proves every reference exists); patches
// are read, not applied. Shared by the structural manifest specs; rendered.spec.ts checks that it
// resolves exactly the objects the real kustomize renders, and runs the schema and policy checks on
// kustomize's output, patches applied.

/** The repository root. */
export const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec?: unknown;
}
export interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
}
export interface Loaded {
  file: string;
  doc: K8sObject;
}
export interface Kustomization {
  kind: 'Kustomization' | 'Component';
  namespace?: string;
  resources?: string[];
  components?: string[];
  patches?: Array<{ path?: string; patch?: string; target?: Record<string, string> }>;
  configMapGenerator?: Array<{ name: string; files?: string[]; envs?: string[] }>;
  secretGenerator?: Array<{ name: string; files?: string[]; envs?: string[] }>;
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
  replicas?: Array<{ name: string; count: number }>;
}

export const rel = (file: string) => relative(root, file);

export function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

export const parsedFiles = new Map<string, unknown[]>();
/** Every non-empty document of a YAML file; a syntax error fails with the file's name. */
export function parseFile(file: string): unknown[] {
  const cached = parsedFiles.get(file);
  if (cached) return cached;
  const values = [...parseAllDocuments(readFileSync(file, 'utf8'))].flatMap((doc) => {
    assert.deepEqual(
      doc.errors.map((e) => e.message),
      [],
      `${rel(file)} does not parse`,
    );
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value];
  });
  parsedFiles.set(file, values);
  return values;
}

/** Kinds that keep their pod template at `spec.template` (a CronJob keeps its job's). */
const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'];

/**
 * The pod template of a workload (a CronJob's: its job's), or undefined for objects that run
 * nothing; `T` is the shape the caller reads of it.
 */
export function podTemplateOf<T>(doc: { kind?: string; spec?: unknown }): T | undefined {
  const spec = doc.spec as { template?: T; jobTemplate?: { spec?: { template?: T } } } | undefined;
  if (doc.kind === 'CronJob') return spec?.jobTemplate?.spec?.template;
  return WORKLOAD_KINDS.includes(doc.kind ?? '') ? spec?.template : undefined;
}

/** Environment variables that hold a secret: they must come from a Secret, never a literal value. */
export const SECRET_ENV_NAME = /(SECRET|PASSWORD|PRIVATE|API_?KEY|TOKEN)$/;

/** Secret material that must never stand in a manifest, by what it is. */
export const SECRET_LITERALS = [
  { what: 'a private key', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  { what: 'a Redis password', pattern: /rediss?:\/\/[^@/\s"]*:[^@/\s"]+@/ },
];

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asK8sObject(value: unknown, file: string): K8sObject {
  assert.ok(isObject(value), `${rel(file)}: a document is not a mapping`);
  assert.equal(typeof value.apiVersion, 'string', `${rel(file)}: apiVersion missing`);
  assert.equal(typeof value.kind, 'string', `${rel(file)}: kind missing`);
  assert.ok(
    isObject(value.metadata) && typeof value.metadata.name === 'string',
    `${rel(file)}: ${String(value.kind)} has no metadata.name`,
  );
  return value as unknown as K8sObject;
}

export interface Build {
  /** The objects the overlay renders (before patches). */
  resources: Loaded[];
  /** Strategic-merge patches (objects) and JSON6902 patches (op lists) the overlay applies. */
  patches: Array<{ file: string; doc: unknown }>;
  kustomizations: Array<{ dir: string; k: Kustomization }>;
  /** Every committed file the overlay reads. */
  files: Set<string>;
  /**
   * What the overlay's secretGenerators read from files: credentials a script writes into a
   * gitignored directory, so they may be absent and are never among `files`.
   */
  secretSources: SecretSource[];
}

/** One file a secretGenerator reads: `files:` entries become keys, `envs:` files KEY=VALUE lines. */
export interface SecretSource {
  /** The Secret the generator makes. */
  secret: string;
  form: 'file' | 'env';
  /** The Secret key a `files:` entry becomes (`key=path`, or the file's name). */
  key?: string;
  /** As written in the kustomization, relative to it. */
  source: string;
  /** Resolved against the kustomization's directory. */
  path: string;
}

export function readKustomization(dir: string): Kustomization {
  const file = join(dir, 'kustomization.yaml');
  assert.ok(existsSync(file), `${rel(dir)} has no kustomization.yaml`);
  const [k] = parseFile(file) as [Kustomization];
  assert.ok(k.kind === 'Kustomization' || k.kind === 'Component', `${rel(file)}: unexpected kind ${k.kind}`);
  return k;
}

/** Follows a kustomization the way kustomize loads it, without transforming anything. */
export function resolveKustomization(dir: string, build: Build): void {
  const k = readKustomization(dir);
  build.kustomizations.push({ dir, k });
  build.files.add(join(dir, 'kustomization.yaml'));
  for (const entry of k.resources ?? []) {
    const path = resolve(dir, entry);
    assert.ok(existsSync(path), `${rel(dir)}/kustomization.yaml: resource ${entry} does not exist`);
    if (statSync(path).isDirectory()) {
      assert.equal(readKustomization(path).kind, 'Kustomization', `${rel(path)} is listed as a resource`);
      resolveKustomization(path, build);
    } else {
      build.files.add(path);
      for (const doc of parseFile(path)) build.resources.push({ file: path, doc: asK8sObject(doc, path) });
    }
  }
  for (const entry of k.components ?? []) {
    const path = resolve(dir, entry);
    assert.ok(existsSync(path), `${rel(dir)}/kustomization.yaml: component ${entry} does not exist`);
    assert.equal(readKustomization(path).kind, 'Component', `${rel(path)} is listed as a component`);
    resolveKustomization(path, build);
  }
  for (const patch of k.patches ?? []) {
    assert.ok(patch.path, `${rel(dir)}: inline patches are not used here; put the patch in a file`);
    const path = resolve(dir, patch.path);
    assert.ok(existsSync(path), `${rel(dir)}/kustomization.yaml: patch ${patch.path} does not exist`);
    assert.ok(
      !patch.path.includes('..'),
      `${rel(dir)}: patch ${patch.path} lies outside the kustomization root (kustomize refuses it)`,
    );
    build.files.add(path);
    for (const doc of parseFile(path)) build.patches.push({ file: path, doc });
  }
  for (const generator of k.configMapGenerator ?? []) {
    for (const source of [...(generator.files ?? []), ...(generator.envs ?? [])]) {
      const path = resolve(dir, source.split('=').pop()!);
      assert.ok(existsSync(path), `${rel(dir)}: generator ${generator.name} reads missing ${source}`);
      build.files.add(path);
    }
  }
  for (const generator of k.secretGenerator ?? [])
    build.secretSources.push(...secretSourcesOf(dir, generator));
}

/** The files one secretGenerator reads, resolved against its kustomization's directory `dir`. */
function secretSourcesOf(dir: string, generator: { name: string; files?: string[]; envs?: string[] }) {
  const file = (entry: string): SecretSource => {
    const at = entry.indexOf('=');
    const source = at < 0 ? entry : entry.slice(at + 1);
    const key = at < 0 ? basename(entry) : entry.slice(0, at);
    return { secret: generator.name, form: 'file', key, source, path: resolve(dir, source) };
  };
  const env = (source: string): SecretSource => ({
    secret: generator.name,
    form: 'env',
    source,
    path: resolve(dir, source),
  });
  return [...(generator.files ?? []).map(file), ...(generator.envs ?? []).map(env)];
}

export function loadOverlay(name: string): Build {
  const build: Build = {
    resources: [],
    patches: [],
    kustomizations: [],
    files: new Set(),
    secretSources: [],
  };
  resolveKustomization(join(root, 'deploy/overlays', name), build);
  return build;
}
