import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podTemplateOf, type K8sObject } from './manifest-tree.js';

// A rendered Deployment's container as a local process sees it: its environment resolved the way
// the kubelet resolves it (literals, ConfigMap and Secret keys, the downward API, `$(VAR)`
// references), and each Secret volume written out as files in a directory of its own, with the
// variables that name a file under the mount path pointed at that directory.

/** A rendered object with the fields read here (Secrets and ConfigMaps carry `data`). */
export interface RenderedObject extends K8sObject {
  data?: Record<string, string>;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}
interface Container {
  name: string;
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string; defaultMode?: number } }>;
}

/** A Secret volume of the pod, written out locally. */
export interface LocalSecretMount {
  /** The Secret's rendered name (with kustomize's hash suffix). */
  secret: string;
  mountPath: string;
  /** The local directory holding its keys as files. */
  dir: string;
}

/** What {@link podEnvironment} resolved. */
export interface PodEnvironment {
  env: Record<string, string>;
  /** Variables whose value is a Secret's key or the path of a file in a mounted Secret. */
  fromSecrets: Set<string>;
  mounts: LocalSecretMount[];
}

/** The one rendered object of `kind` named `name` (a generated one by its name with kustomize's hash). */
export function findRendered(objects: readonly RenderedObject[], kind: string, name: string): RenderedObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  assert.equal(found.length, 1, `exactly one rendered ${kind} ${name}`);
  return found[0]!;
}

/** The pod spec of a rendered workload; `T` is the shape the caller reads of it. */
export function podSpecOf<T>(workload: RenderedObject): T {
  const template = podTemplateOf<{ spec: T }>(workload);
  assert.ok(template, `${workload.kind} ${workload.metadata.name} has no pod template`);
  return template.spec;
}

/** Decoded `data` of a rendered Secret (base64) or ConfigMap (plain). */
function dataOf(objects: readonly RenderedObject[], kind: 'Secret' | 'ConfigMap', name: string) {
  const data = findRendered(objects, kind, name).data ?? {};
  return (key: string): Buffer => {
    assert.ok(key in data, `${kind} ${name} has no key ${key}`);
    return kind === 'Secret' ? Buffer.from(data[key]!, 'base64') : Buffer.from(data[key]!, 'utf8');
  };
}

/** Writes every Secret volume the container mounts into `<dir>/<volume>/`, mode as the pod sets it. */
function writeSecretMounts(
  objects: readonly RenderedObject[],
  pod: PodSpec,
  container: Container,
  dir: string,
): LocalSecretMount[] {
  return (pod.volumes ?? []).flatMap((volume) => {
    if (!volume.secret) return [];
    const mount = container.volumeMounts?.find((m) => m.name === volume.name);
    assert.ok(mount, `secret volume ${volume.name} is not mounted`);
    const secret = findRendered(objects, 'Secret', volume.secret.secretName);
    const local = join(dir, volume.name);
    mkdirSync(local, { recursive: true, mode: 0o700 });
    for (const [key, value] of Object.entries(secret.data ?? {}))
      writeFileSync(join(local, key), Buffer.from(value, 'base64'), {
        mode: volume.secret.defaultMode ?? 0o644,
      });
    return [{ secret: secret.metadata.name, mountPath: mount.mountPath, dir: local }];
  });
}

/** The downward API fields a local process can stand in for. */
function fieldValue(deployment: string, fieldPath: string): string {
  const fields: Record<string, string> = {
    'metadata.name': `${deployment}-local`,
    'metadata.namespace': 'wxmesh',
    'status.podIP': '127.0.0.1',
  };
  assert.ok(fieldPath in fields, `no local stand-in for fieldRef ${fieldPath}`);
  return fields[fieldPath]!;
}

/** `$(NAME)` references to variables defined earlier, as the kubelet expands them. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
}

/** One `env` entry's value, and whether it came from a Secret. */
function envValue(
  objects: readonly RenderedObject[],
  deployment: string,
  entry: EnvVar,
  env: Record<string, string>,
) {
  const from = entry.valueFrom;
  if (from?.secretKeyRef)
    return {
      value: dataOf(objects, 'Secret', from.secretKeyRef.name)(from.secretKeyRef.key).toString('utf8'),
      secret: true,
    };
  if (from?.configMapKeyRef)
    return {
      value: dataOf(
        objects,
        'ConfigMap',
        from.configMapKeyRef.name,
      )(from.configMapKeyRef.key).toString('utf8'),
      secret: false,
    };
  if (from?.fieldRef) return { value: fieldValue(deployment, from.fieldRef.fieldPath), secret: false };
  assert.ok(
    entry.value !== undefined,
    `${deployment}: ${entry.name} has neither value nor a source this test knows`,
  );
  return { value: expand(entry.value, env), secret: false };
}

/** `envFrom` sources, in order (a later `env` entry overrides them, as in Kubernetes). */
function envFromValues(objects: readonly RenderedObject[], container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    assert.ok(ref, 'envFrom names a ConfigMap or a Secret');
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
    const read = dataOf(objects, kind, ref.name);
    for (const key of Object.keys(findRendered(objects, kind, ref.name).data ?? {}))
      env[key] = read(key).toString('utf8');
  }
  return env;
}

/**
 * The first container of the rendered Deployment `deployment` as a local process: its environment
 * resolved from the rendered objects, with its Secret volumes written under `dir` and every
 * variable that names a file in a mounted Secret pointed at the local copy.
 */
export function podEnvironment(
  objects: readonly RenderedObject[],
  deployment: string,
  dir: string,
): PodEnvironment {
  const pod = podSpecOf<PodSpec>(findRendered(objects, 'Deployment', deployment));
  const container = pod.containers[0]!;
  const mounts = writeSecretMounts(objects, pod, container, join(dir, deployment));
  const env = envFromValues(objects, container);
  const fromSecrets = new Set<string>();
  for (const entry of container.env ?? []) {
    const { value, secret } = envValue(objects, deployment, entry, env);
    const mount = mounts.find((m) => value.startsWith(`${m.mountPath}/`));
    env[entry.name] = mount ? join(mount.dir, value.slice(mount.mountPath.length + 1)) : value;
    if (secret || mount) fromSecrets.add(entry.name);
  }
  return { env, fromSecrets, mounts };
}
