import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { KUSTOMIZE } from '@wxmesh/testing';
import {
  loadOverlay,
  podTemplateOf,
  SECRET_ENV_NAME,
  SECRET_LITERALS,
  type K8sObject,
} from './manifest-tree.js';
import {
  describeObject,
  kustomizationRoots,
  prepareLocalOverlay,
  renderEverything,
  type Rendered,
} from './rendered.js';
import { schemaErrors, strictErrors } from './schema-check.js';

// What a cluster receives: every kustomization root built by the real kustomize, each object
// validated offline against its Kubernetes / Istio / Strimzi / Prometheus Operator / ArgoCD schema
// (strictly: an unknown field fails), then the policies every rendered object must meet.
// The first run on a machine builds kustomize with `go install` (about 30 s; .ci/run does it first).

let builds: Map<string, Rendered[]>;
const everything = () => [...builds.values()].flat();
const built = (root: string) => builds.get(root)!;

before(async () => {
  await prepareLocalOverlay();
  builds = await renderEverything();
});

describe(`kustomize ${KUSTOMIZE.version} builds`, () => {
  test('every overlay, the base and the mesh policy build and render objects', () => {
    for (const root of kustomizationRoots()) {
      assert.ok(built(root).length > 0, `${root} rendered nothing`);
    }
    assert.ok(kustomizationRoots().includes('deploy/overlays/production'));
    assert.ok(kustomizationRoots().includes('deploy/overlays/local'));
  });

  test("the structural specs' own resolution (manifest-tree.ts) sees exactly what kustomize renders", () => {
    const id = (doc: K8sObject) => `${doc.kind} ${doc.metadata.namespace ?? ''}/${doc.metadata.name}`;
    for (const overlay of ['local', 'production']) {
      const tree = loadOverlay(overlay);
      const generated = new Set(
        tree.kustomizations.flatMap(({ k }) => [
          ...(k.configMapGenerator ?? []),
          ...(k.secretGenerator ?? []),
        ]),
      );
      const generatorNames = [...generated].map((g) => g.name);
      const resolved = tree.resources.map((o) => id(o.doc)).sort();
      const rendered = built(`deploy/overlays/${overlay}`)
        .filter(
          (o) =>
            !['ConfigMap', 'Secret'].includes(o.doc.kind) ||
            !generatorNames.includes(o.doc.metadata.name.replace(/-[a-z0-9]{10}$/, '')),
        )
        .map((o) => id(o.doc))
        .sort();
      assert.deepEqual(resolved, rendered, overlay);
    }
  });
});

describe('schemas (offline, kubernetes-models)', () => {
  test('every rendered object validates against the schema of its kind', async () => {
    const errors = await schemaErrors(everything());
    assert.deepEqual(errors, [], errors.join('\n'));
  });

  test('no rendered object sets a field its schema does not declare (strict)', () => {
    const errors = strictErrors(everything());
    assert.deepEqual(errors, [], errors.join('\n'));
  });

  /** A rendered object of `kind` to break, copied. */
  const sample = (kind: string): K8sObject => {
    const found = everything().find((o) => o.doc.kind === kind);
    assert.ok(found, `no ${kind} rendered`);
    return structuredClone(found.doc);
  };
  const one = (doc: K8sObject): Rendered[] => [{ source: 'mutated', doc }];

  test('the checks fail a misspelt field, a wrong type and an unknown kind, naming them', async () => {
    const deployment = sample('Deployment') as K8sObject & {
      spec: { replicas?: unknown; template: { spec: { containers: Array<Record<string, unknown>> } } };
    };
    const container = deployment.spec.template.spec.containers[0]!;
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    assert.match(strictErrors(one(deployment)).join('\n'), /'"readinesProbe"' does not exist/);

    deployment.spec.replicas = 'three';
    assert.match((await schemaErrors(one(deployment))).join('\n'), /spec\/replicas must be integer/);

    const route = sample('VirtualService') as K8sObject & { spec: { http: Array<{ timeout?: unknown }> } };
    route.spec.http[0]!.timeout = 5;
    assert.match((await schemaErrors(one(route))).join('\n'), /timeout must be string/);

    const topic = sample('KafkaTopic') as K8sObject & { spec: Record<string, unknown> };
    topic.spec.replica = topic.spec.replicas;
    assert.match(strictErrors(one(topic)).join('\n'), /KafkaTopic .*'"replica"' does not exist/);

    const unknown = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } };
    assert.match(
      (await schemaErrors(one(unknown))).join('\n'),
      /no schema is known for example.com\/v1 Widget/,
    );
  });
});

interface Container {
  name: string;
  image: string;
  env?: Array<{ name: string; value?: string }>;
  readinessProbe?: unknown;
  livenessProbe?: unknown;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type?: string } };
  containers: Container[];
  initContainers?: Container[];
}

/** The pod spec of a workload, or undefined for objects that run nothing. */
const podSpec = (doc: K8sObject) => podTemplateOf<{ spec: PodSpec }>(doc)?.spec;
const containersOf = (pod: PodSpec) => [...(pod.initContainers ?? []), ...pod.containers];

/**
 * Containers allowed a writable root filesystem, each with its reason: only dev infrastructure of
 * the local overlay, never a wxmesh service.
 */
const WRITABLE_ROOT: Record<string, string> = {
  'StatefulSet wxmesh-infra/kafka kafka':
    "apache/kafka's launcher writes server.properties beside its other config files at start-up",
};

describe('policies over every rendered object', () => {
  const workloads = () => everything().filter((o) => podSpec(o.doc) !== undefined);

  test('every long-running container has readiness and liveness probes', () => {
    const running = workloads().filter((o) => ['Deployment', 'StatefulSet'].includes(o.doc.kind));
    assert.ok(running.length >= 6);
    for (const { source, doc } of running) {
      for (const c of podSpec(doc)!.containers) {
        assert.ok(
          c.readinessProbe && c.livenessProbe,
          `${source}: ${describeObject(doc)}: ${c.name} is not probed`,
        );
      }
    }
  });

  test('every container requests and is limited in CPU and memory', () => {
    for (const { source, doc } of workloads()) {
      for (const c of containersOf(podSpec(doc)!)) {
        const where = `${source}: ${describeObject(doc)}: ${c.name}`;
        for (const resource of ['cpu', 'memory']) {
          assert.ok(c.resources?.requests?.[resource] !== undefined, `${where}: no ${resource} request`);
          assert.ok(c.resources?.limits?.[resource] !== undefined, `${where}: no ${resource} limit`);
        }
      }
    }
  });

  test('every pod runs non-root under RuntimeDefault seccomp, every container without privileges', () => {
    for (const { source, doc } of workloads()) {
      const pod = podSpec(doc)!;
      const where = `${source}: ${describeObject(doc)}`;
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: may run as root`);
      assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`);
      for (const c of containersOf(pod)) {
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: ${c.name} may escalate`);
        const writable =
          source.endsWith('deploy/overlays/local') && `${describeObject(doc)} ${c.name}` in WRITABLE_ROOT;
        assert.equal(
          c.securityContext?.readOnlyRootFilesystem,
          !writable,
          `${where}: ${c.name} writes its root`,
        );
        assert.deepEqual(
          c.securityContext?.capabilities?.drop,
          ['ALL'],
          `${where}: ${c.name} keeps capabilities`,
        );
      }
    }
  });

  test('no Secret value is rendered: production and the base render no Secret, local only generated ones', () => {
    for (const [root, objects] of builds) {
      const secrets = objects.filter((o) => o.doc.kind === 'Secret');
      if (root === 'deploy/overlays/local') {
        // Generated by kustomize from the gitignored credentials (scripts/local-credentials.ts):
        // content-hashed names, never committed.
        for (const { doc } of secrets) assert.match(doc.metadata.name, /-[a-z0-9]{10}$/, describeObject(doc));
      } else {
        assert.deepEqual(
          secrets.map((o) => describeObject(o.doc)),
          [],
          `${root} renders a Secret`,
        );
      }
      const others = objects.filter((o) => o.doc.kind !== 'Secret');
      const text = JSON.stringify(others.map((o) => o.doc));
      for (const { what, pattern } of SECRET_LITERALS) assert.doesNotMatch(text, pattern, `${root}: ${what}`);
      for (const { doc } of others) {
        for (const c of containersOf(podSpec(doc) ?? { containers: [] })) {
          for (const e of c.env ?? []) {
            const secretish = SECRET_ENV_NAME.test(e.name);
            assert.ok(!(secretish && e.value), `${root}: ${describeObject(doc)}: ${e.name} is a literal`);
          }
        }
      }
    }
  });

  test('production pins every image reference by digest', () => {
    const images = built('deploy/overlays/production').flatMap((o) =>
      containersOf(podSpec(o.doc) ?? { containers: [] }).map((c) => c.image),
    );
    assert.ok(images.length >= 6);
    for (const image of images) assert.match(image, /^[^:@\s]+(:[^@\s]+)?@sha256:[0-9a-f]{64}$/, image);
  });
});
