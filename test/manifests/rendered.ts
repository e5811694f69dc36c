import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ensureKustomize } from '@wxmesh/testing';
import { parseAllDocuments } from 'yaml';
import { parseFile, rel, root, type K8sObject } from './manifest-tree.js';

// deploy/ and istio/ as a cluster receives them: every kustomization root built by the real
// kustomize (patches, generators, images and replicas applied), plus the files applied on their
// own (the IstioOperator for istioctl, the ArgoCD Application). manifest-tree.ts resolves the
// same trees without kustomize for the structural specs; this is what the schema and policy
// checks run on.

const run = promisify(execFile);

/** One object as rendered, with where it came from (`kustomize build deploy/overlays/local`). */
export interface Rendered {
  source: string;
  doc: K8sObject;
}

/** The kustomization roots a team builds: every overlay, the base and the mesh policy alone. */
export function kustomizationRoots(): string[] {
  const overlays = readdirSync(join(root, 'deploy/overlays'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `deploy/overlays/${entry.name}`);
  return [...overlays, 'deploy/base', 'istio'];
}

/** Files applied as they are, outside any kustomization. */
export const STANDALONE_FILES = [
  'istio/istiooperator-mesh.yaml',
  'deploy/argocd/application-production.yaml',
];

/** Runs `kustomize build` on a directory (absolute, or relative to the repository); the objects it prints. */
export async function kustomizeObjects<T extends K8sObject = K8sObject>(dir: string): Promise<T[]> {
  const kustomize = await ensureKustomize();
  const { stdout } = await run(kustomize, ['build', resolve(root, dir)], { maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((document) => {
    if (document.errors.length > 0) throw new Error(`${dir}: ${document.errors[0]!.message}`);
    return document.toJS() as T;
  });
}

/** Runs `kustomize build` on one root (relative to the repository), each object with its source. */
export async function kustomizeBuild(dir: string): Promise<Rendered[]> {
  return (await kustomizeObjects(dir)).map((doc) => ({ source: `kustomize build ${dir}`, doc }));
}

/** The objects of the standalone files, as `Rendered`. */
export function standaloneObjects(): Rendered[] {
  return STANDALONE_FILES.flatMap((file) =>
    parseFile(join(root, file)).map((doc) => ({ source: rel(join(root, file)), doc: doc as K8sObject })),
  );
}

/**
 * The local overlay generates its Secrets from the gitignored credential set that
 * `npm run local-credentials` writes (as a developer does before applying it). The script keeps
 * a complete set and completes a partial one, so it runs every time.
 */
export async function prepareLocalOverlay(): Promise<void> {
  await run(process.execPath, ['--import', 'tsx', join(root, 'scripts/local-credentials.ts')], { cwd: root });
}

/** Builds every root and reads the standalone files: everything that reaches a cluster. */
export async function renderEverything(): Promise<Map<string, Rendered[]>> {
  const builds = new Map<string, Rendered[]>();
  for (const dir of kustomizationRoots()) builds.set(dir, await kustomizeBuild(dir));
  builds.set('standalone', standaloneObjects());
  return builds;
}

/** `Kind namespace/name` for messages. */
export const describeObject = (doc: K8sObject) =>
  `${doc.kind} ${doc.metadata?.namespace ? `${doc.metadata.namespace}/` : ''}${doc.metadata?.name}`;
