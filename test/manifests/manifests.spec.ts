import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import {
  AuthVerifyService,
  BehaviourViewService,
  MessageRouterService,
  PaymentService,
  SessionService,
} from '@wxmesh/contracts';
import { WECHAT_HEADERS } from '@wxmesh/telemetry';
import { serviceNodeOptions } from '@wxmesh/testing';
import { parse as parseYaml } from 'yaml';
import {
  describeAccess,
  isEdgeRpc,
  peerCallsIn,
  principalsOutsideMesh,
  protoAllowsPeer,
  type PeerCall,
} from './caller-model.js';
import {
  asK8sObject,
  isObject,
  loadOverlay,
  parseFile,
  rel,
  root,
  yamlFiles,
  type Build,
  type JsonPatchOp,
  type K8sObject,
  type Loaded,
} from './manifest-tree.js';

// The invariants of deploy/ and istio/ that matter for security and operations, checked on the
// YAML itself. kustomize is not a dependency: overlays are resolved here by following their
// resources/components lists (which also proves every reference exists); patches are read, not
// applied, and checked so that they cannot weaken what the base guarantees.

const NAMESPACE = 'wxmesh';
const STRIMZI_NAMESPACE = 'kafka';
/** Namespaces of the dev-only infrastructure components (Redis, Kafka, Jaeger); checked in components.spec.ts. */
const DEV_INFRA_NAMESPACES = ['wxmesh-infra', 'observability'];
const isDevInfra = (o: Loaded) =>
  DEV_INFRA_NAMESPACES.includes(
    o.doc.kind === 'Namespace' ? o.doc.metadata.name : (o.doc.metadata.namespace ?? ''),
  );
const GRPC_PORT = 50051;
const HTTP_PORT = 8080;
const INGRESS = 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
const meshPrincipal = (serviceAccount: string) => `cluster.local/ns/${NAMESPACE}/sa/${serviceAccount}`;

/** Each domain service and the gRPC service it implements (the generated descriptors are the contract). */
const CONTRACTS: Record<string, DescService> = {
  'auth-verify': AuthVerifyService,
  session: SessionService,
  'message-router': MessageRouterService,
  'payment-callback': PaymentService,
  'behaviour-projector': BehaviourViewService,
};
const SANDBOX = 'wechat-sandbox';
const rpcPaths = (desc: DescService) => desc.methods.map((m) => `/${desc.typeName}/${m.name}`);
const HEALTH_PATHS = ['/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch'];
const REFLECTION_PATHS = [
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
];
/** HTTP-only endpoints on the `http` port, by service (documented in deploy/README.md). */
const WEBHOOKS: Record<string, string[]> = {
  // One push URL per app: /webhooks/wechat/message/<appid>.
  'message-router': ['/webhooks/wechat/message/*'],
  'payment-callback': ['/webhooks/wechatpay/notify'],
};
/** The WeChat API path families the sandbox emulates (only reachable in dev/test overlays). */
const SANDBOX_PATHS = ['/sns/*', '/cgi-bin/*', '/wxa/*', '/v3/*'];

// What the mesh must allow is derived, never listed here: who may call each RPC comes from its
// proto (`option (wxmesh.common.v1.access)`), and which RPCs each service calls on its peers from
// the `definePeer(<Service>, ['method', ...])` declarations in services/*/src (caller-model.ts).

/** The generated descriptors by their exported names, as `definePeer` calls name them. */
const DESCRIPTORS: Record<string, DescService> = Object.fromEntries(
  Object.values(CONTRACTS).map((d) => [d.name, d]),
);
const serviceOf = (desc: DescService) => Object.entries(CONTRACTS).find(([, d]) => d === desc)![0];
const pathOf = (desc: DescService, method: DescMethod) => `/${desc.typeName}/${method.name}`;
/** The mesh identities the protos grant RPCs to that are not wxmesh services (business-backend, operator). */
const OUTSIDE_PRINCIPALS = principalsOutsideMesh(Object.values(CONTRACTS), Object.keys(CONTRACTS));
/** RPCs that are neither PUBLIC nor EDGE: nothing at the edge may reach them. */
const INTERNAL_ONLY = Object.values(CONTRACTS).flatMap((desc) =>
  desc.methods.filter((m) => !isEdgeRpc(m)).map((m) => pathOf(desc, m)),
);

let scannedPeerCalls: PeerCall[] | undefined;
/** Every RPC a service's code calls on a peer (read once, on first use, so a bad declaration fails a test). */
function peerCalls(): PeerCall[] {
  scannedPeerCalls ??= peerCallsIn(join(root, 'services'), DESCRIPTORS, root);
  return scannedPeerCalls;
}
/** The paths `caller`'s code calls on `target`'s grpc port, with where each is declared. */
function codeCalls(caller: string, target: string): Map<string, string> {
  return new Map(
    peerCalls()
      .filter((c) => c.caller === caller && serviceOf(c.callee) === target)
      .map((c) => [pathOf(c.callee, c.method), c.at]),
  );
}

// ---------------------------------------------------------------------------------------------
// The shapes this test reads

interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: unknown;
  tcpSocket?: unknown;
  exec?: unknown;
}
interface Container {
  name: string;
  image: string;
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
}
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  topologySpreadConstraints?: Array<{
    topologyKey: string;
    labelSelector?: { matchLabels?: Record<string, string> };
  }>;
  containers: Container[];
  volumes?: Array<{ name: string; emptyDir?: unknown; secret?: { secretName: string } }>;
}
interface DeploymentSpec {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
    spec: PodSpec;
  };
}
interface ServiceSpec {
  selector?: Record<string, string>;
  ports: Array<{ name?: string; port: number; targetPort?: number | string; appProtocol?: string }>;
}
interface Source {
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  [other: string]: unknown;
}
interface Operation {
  ports?: string[];
  notPorts?: string[];
  paths?: string[];
  notPaths?: string[];
  methods?: string[];
  [other: string]: unknown;
}
interface Rule {
  from?: Array<{ source: Source }>;
  to?: Array<{ operation: Operation }>;
  when?: Array<{ key: string; values?: string[]; notValues?: string[] }>;
}
interface AuthorizationPolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  action?: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  rules?: Rule[];
}
interface HttpMatch {
  uri?: { exact?: string; prefix?: string; regex?: string };
}
interface HttpRoute {
  name?: string;
  match?: HttpMatch[];
  headers?: { request?: { remove?: string[] } };
  route: Array<{ destination: { host: string; port?: { number: number } } }>;
}
interface VirtualServiceSpec {
  hosts: string[];
  gateways?: string[];
  http?: HttpRoute[];
}

const ofKind = (objects: Loaded[], kind: string) => objects.filter((o) => o.doc.kind === kind);
const spec = <T>(o: Loaded) => o.doc.spec as T;
const matchesLabels = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;
const fqdn = (service: string) => `${service}.${NAMESPACE}.svc.cluster.local`;

/** Kubernetes quantities as numbers (cores, bytes), enough to compare requests with limits. */
function quantity(value: string | number): number {
  const match = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(value));
  assert.ok(match, `not a quantity: ${value}`);
  const units: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
  };
  assert.ok(match[2]! in units, `unknown unit in ${value}`);
  return Number(match[1]) * units[match[2]!]!;
}

/** Istio's string match for principals and paths: exact, `prefix*`, `*suffix`, or `*`. */
function istioMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return value.length > 0;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

const namespaceOf = (principal: string) => /\/ns\/([^/]+)\//.exec(principal)?.[1] ?? '';

/**
 * Whether an AuthorizationPolicy rule could admit `principal` calling `path` on `port`. Fields
 * this test does not model (IP blocks, `when` conditions, methods) are assumed to admit, so the
 * answer errs towards "reachable": the reachability checks below can only be too strict.
 */
function ruleAdmits(rule: Rule, principal: string, path: string, port: number): boolean {
  const sourceAdmits = (s: Source) =>
    (s.principals === undefined || s.principals.some((p) => istioMatch(p, principal))) &&
    !(s.notPrincipals ?? []).some((p) => istioMatch(p, principal)) &&
    (s.namespaces === undefined || s.namespaces.some((n) => istioMatch(n, namespaceOf(principal)))) &&
    !(s.notNamespaces ?? []).some((n) => istioMatch(n, namespaceOf(principal)));
  const operationAdmits = (o: Operation) =>
    (o.paths === undefined || o.paths.some((p) => istioMatch(p, path))) &&
    !(o.notPaths ?? []).some((p) => istioMatch(p, path)) &&
    (o.ports === undefined || o.ports.includes(String(port))) &&
    !(o.notPorts ?? []).includes(String(port));
  const fromOk = rule.from === undefined || rule.from.some((f) => sourceAdmits(f.source));
  const toOk = rule.to === undefined || rule.to.some((t) => operationAdmits(t.operation));
  return fromOk && toOk;
}

/** The ALLOW policies in force for a workload: namespace-wide ones and those selecting its pods. */
function allowPoliciesFor(objects: Loaded[], target: string): Loaded[] {
  const deployment = ofKind(objects, 'Deployment').find((d) => d.doc.metadata.name === target);
  assert.ok(deployment, `no Deployment ${target}`);
  const podLabels = spec<DeploymentSpec>(deployment).template.metadata.labels;
  return ofKind(objects, 'AuthorizationPolicy')
    .filter((o) => o.doc.metadata.namespace === NAMESPACE)
    .filter((o) => ((spec<AuthorizationPolicySpec | null>(o) ?? {}).action ?? 'ALLOW') === 'ALLOW')
    .filter((o) => {
      const matchLabels = (spec<AuthorizationPolicySpec | null>(o) ?? {}).selector?.matchLabels;
      return matchLabels === undefined || matchesLabels(matchLabels, podLabels);
    });
}

const policyName = (p: Loaded) => `${rel(p.file)} (${p.doc.metadata.name})`;

/** The ALLOW policies with a rule that admits `principal` calling `path` on `target`'s `port`. */
function admittingPolicies(
  objects: Loaded[],
  target: string,
  principal: string,
  path: string,
  port: number,
): Loaded[] {
  return allowPoliciesFor(objects, target).filter((p) =>
    ((spec<AuthorizationPolicySpec | null>(p) ?? {}).rules ?? []).some((r) =>
      ruleAdmits(r, principal, path, port),
    ),
  );
}

function allowed(objects: Loaded[], target: string, principal: string, path: string, port: number): boolean {
  return admittingPolicies(objects, target, principal, path, port).length > 0;
}

/** Where a missing allow belongs: the target's own policy (authorizationpolicy-<target>.yaml). */
function policiesToFix(objects: Loaded[], target: string): string {
  const own = allowPoliciesFor(objects, target).filter((p) => p.doc.metadata.name === target);
  return own.length > 0 ? own.map(policyName).join(', ') : `a new authorizationpolicy-${target}.yaml`;
}

function uriMatches(match: HttpMatch, path: string): boolean {
  const uri = match.uri;
  if (uri === undefined) return true;
  if (uri.exact !== undefined) return uri.exact === path;
  if (uri.prefix !== undefined) return path.startsWith(uri.prefix);
  if (uri.regex !== undefined) return new RegExp(`^(?:${uri.regex})$`).test(path);
  return true;
}

/** Edge routes: for each VirtualService bound to a gateway, which paths reach which service. */
function edgeRoutes(objects: Loaded[]): Array<{ vs: string; route: HttpRoute; service: string }> {
  return ofKind(objects, 'VirtualService')
    .filter((o) => (spec<VirtualServiceSpec>(o).gateways ?? []).some((g) => g !== 'mesh'))
    .flatMap((o) =>
      (spec<VirtualServiceSpec>(o).http ?? []).flatMap((route) =>
        route.route.map((r) => ({
          vs: o.doc.metadata.name,
          route,
          service: r.destination.host.split('.')[0]!,
        })),
      ),
    );
}

// ---------------------------------------------------------------------------------------------

const allFiles = [...yamlFiles(join(root, 'deploy')), ...yamlFiles(join(root, 'istio'))];
const overlays = { local: loadOverlay('local'), production: loadOverlay('production') } as const;
const overlayEntries = Object.entries(overlays) as Array<[keyof typeof overlays, Build]>;
/**
 * Every manifest object of wxmesh once, from whichever overlay reaches it (the union the checks
 * below cover). The dev infrastructure components are checked by components.spec.ts.
 */
const everyObject: Loaded[] = [
  ...new Map(
    overlayEntries.flatMap(([, b]) =>
      b.resources
        .filter((r) => !isDevInfra(r))
        .map((r) => [`${r.file}#${r.doc.kind}/${r.doc.metadata.namespace}/${r.doc.metadata.name}`, r]),
    ),
  ).values(),
];
const production = overlays.production.resources;

describe('files and kustomize structure', () => {
  test('every YAML document in deploy/ and istio/ parses as a Kubernetes object, kustomization or JSON patch', () => {
    assert.ok(allFiles.length > 20, 'the manifests were not found');
    for (const file of allFiles) {
      const docs = parseFile(file);
      assert.ok(docs.length > 0, `${rel(file)} is empty`);
      for (const doc of docs) {
        if (Array.isArray(doc)) {
          for (const op of doc as JsonPatchOp[]) {
            assert.ok(
              ['add', 'remove', 'replace', 'copy', 'move', 'test'].includes(op.op),
              `${rel(file)}: ${op.op}`,
            );
            assert.match(op.path, /^\//, `${rel(file)}: JSON patch path`);
          }
        } else if (isObject(doc) && (doc.kind === 'Kustomization' || doc.kind === 'Component')) {
          assert.match(String(doc.apiVersion), /^kustomize\.config\.k8s\.io\//, rel(file));
        } else {
          asK8sObject(doc, file);
        }
      }
    }
  });

  test('every manifest is used by an overlay (install-time IstioOperator and ArgoCD Application aside)', () => {
    const used = new Set(overlayEntries.flatMap(([, b]) => [...b.files]));
    const installTime = new Set(['IstioOperator', 'Application']);
    const orphans = allFiles.filter(
      (f) => !used.has(f) && !parseFile(f).every((d) => isObject(d) && installTime.has(String(d.kind))),
    );
    assert.deepEqual(orphans.map(rel), []);
  });

  test('each overlay renders every object once, in the namespace its principals assume', () => {
    for (const [name, build] of overlayEntries) {
      const keys = build.resources.map(
        (r) => `${r.doc.kind}/${r.doc.metadata.namespace}/${r.doc.metadata.name}`,
      );
      assert.deepEqual(
        keys.filter((k, i) => keys.indexOf(k) !== i),
        [],
        `${name}: duplicate objects`,
      );
      for (const { doc, file } of build.resources) {
        // Dev infrastructure has namespaces of its own, and never reaches production.
        if (name !== 'production' && isDevInfra({ doc, file })) continue;
        if (doc.kind === 'Namespace') continue;
        // KafkaTopics live where Strimzi's Topic Operator watches: the Kafka cluster's namespace.
        const expected =
          doc.kind === 'AuthorizationPolicy' &&
          spec<AuthorizationPolicySpec>({ file, doc }).selector?.matchLabels?.istio
            ? 'istio-system'
            : doc.kind === 'KafkaTopic'
              ? STRIMZI_NAMESPACE
              : NAMESPACE;
        assert.equal(doc.metadata.namespace, expected, `${rel(file)}: ${doc.kind} ${doc.metadata.name}`);
      }
      // A namespace transformer would move the istio-system policy and break every principal.
      for (const { dir, k } of build.kustomizations)
        assert.equal(k.namespace, undefined, `${rel(dir)} sets namespace`);
    }
  });
});

describe('Deployments', () => {
  const deployments = ofKind(everyObject, 'Deployment');

  test('all six services are deployed, the five domain services in every overlay', () => {
    assert.deepEqual(
      deployments.map((d) => d.doc.metadata.name).sort(),
      [...Object.keys(CONTRACTS), SANDBOX].sort(),
    );
    for (const [name, build] of overlayEntries) {
      const names = ofKind(build.resources, 'Deployment').map((d) => d.doc.metadata.name);
      for (const service of Object.keys(CONTRACTS))
        assert.ok(names.includes(service), `${name} lacks ${service}`);
    }
  });

  for (const deployment of deployments) {
    const name = deployment.doc.metadata.name;
    const d = spec<DeploymentSpec>(deployment);
    const pod = d.template.spec;
    const podLabels = d.template.metadata.labels;

    describe(name, () => {
      test('selects its own pods and runs one container named after it', () => {
        assert.ok(matchesLabels(d.selector.matchLabels, podLabels));
        assert.equal(pod.containers.length, 1);
        assert.equal(pod.containers[0]!.name, name);
        assert.equal(
          pod.containers[0]!.image,
          `wxmesh/${name}:latest`,
          'the base image every overlay replaces',
        );
      });

      test('runs non-root with a read-only root filesystem, no capabilities and RuntimeDefault seccomp', () => {
        assert.equal(pod.securityContext?.runAsNonRoot, true);
        assert.equal(pod.securityContext?.runAsUser, 10001);
        assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
        for (const c of pod.containers) {
          const sc = c.securityContext;
          assert.equal(sc?.readOnlyRootFilesystem, true, `${c.name}: readOnlyRootFilesystem`);
          assert.equal(sc?.allowPrivilegeEscalation, false, `${c.name}: allowPrivilegeEscalation`);
          assert.notEqual(sc?.runAsNonRoot, false);
          assert.notEqual(sc?.runAsUser, 0);
          assert.notEqual(sc?.privileged, true);
          assert.deepEqual(sc?.capabilities?.drop, ['ALL']);
          assert.equal(sc?.capabilities?.add, undefined);
          const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
          assert.ok(tmp, `${c.name}: no writable /tmp`);
          assert.ok(
            pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir !== undefined,
            '/tmp must be an emptyDir',
          );
        }
      });

      test('has CPU and memory requests and limits, requests within limits', () => {
        for (const c of pod.containers) {
          for (const resource of ['cpu', 'memory']) {
            const request = c.resources?.requests?.[resource];
            const limit = c.resources?.limits?.[resource];
            assert.ok(
              request !== undefined && limit !== undefined,
              `${c.name}: ${resource} request and limit`,
            );
            assert.ok(
              quantity(request) <= quantity(limit),
              `${c.name}: ${resource} request exceeds its limit`,
            );
          }
        }
      });

      test('runs with the node options its package.json declares, as `npm start` and the tests do', () => {
        const env = pod.containers[0]!.env ?? [];
        assert.equal(env.find((e) => e.name === 'NODE_OPTIONS')?.value, serviceNodeOptions(name));
      });

      test('serves grpc and http on the in-cluster ports it is configured for', () => {
        const c = pod.containers[0]!;
        assert.deepEqual(
          (c.ports ?? []).map((p) => [p.name, p.containerPort]),
          [
            ['grpc', GRPC_PORT],
            ['http', HTTP_PORT],
          ],
        );
        assert.equal(envOf(c, 'GRPC_PORT'), String(GRPC_PORT));
        assert.equal(envOf(c, 'HTTP_PORT'), String(HTTP_PORT));
        assert.equal(envOf(c, 'HOST'), '0.0.0.0', 'sidecar and kubelet reach the pod IP, not loopback');
      });

      test('is probed with native gRPC health on the grpc port: liveness on "", readiness on its own service', () => {
        const c = pod.containers[0]!;
        const contract = CONTRACTS[name];
        for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
          const probe = c[kind];
          assert.ok(probe?.grpc, `${kind} must be a gRPC probe`);
          assert.equal(probe.grpc.port, GRPC_PORT, `${kind} port`);
        }
        assert.equal(c.livenessProbe!.grpc!.service ?? '', '');
        assert.equal(c.startupProbe!.grpc!.service ?? '', '');
        assert.equal(c.readinessProbe!.grpc!.service ?? '', contract?.typeName ?? '');
      });

      test('drains within the termination grace period: readiness drops first, then the grace', () => {
        const c = pod.containers[0]!;
        assert.equal(pod.terminationGracePeriodSeconds, 30);
        const graceMs = Number(envOf(c, 'SHUTDOWN_GRACE_MS'));
        assert.equal(graceMs, 15000);
        const drainDelayMs = Number(envOf(c, 'DRAIN_DELAY_MS'));
        assert.ok(
          drainDelayMs > 0,
          'calls are served for a while after SIGTERM, while endpoints drop the pod',
        );
        assert.equal(
          c.lifecycle?.preStop,
          undefined,
          'the drain delay replaces a preStop sleep (it would add to it)',
        );
        assert.ok(
          (drainDelayMs + graceMs) / 1000 + 3 < pod.terminationGracePeriodSeconds!,
          'drain delay + grace + closers must fit',
        );
      });

      test('has its own ServiceAccount, a PodDisruptionBudget and topology spread over its pods', () => {
        assert.equal(pod.serviceAccountName, name);
        assert.equal(pod.automountServiceAccountToken, false);
        assert.ok(
          ofKind(everyObject, 'ServiceAccount').some((s) => s.doc.metadata.name === name),
          `ServiceAccount ${name} missing`,
        );
        const pdbs = ofKind(everyObject, 'PodDisruptionBudget').filter((p) =>
          matchesLabels(
            spec<{ selector: { matchLabels: Record<string, string> } }>(p).selector.matchLabels,
            podLabels,
          ),
        );
        assert.equal(pdbs.length, 1, 'exactly one PodDisruptionBudget');
        const spread = pod.topologySpreadConstraints ?? [];
        assert.ok(spread.some((t) => t.topologyKey === 'kubernetes.io/hostname'));
        for (const t of spread) assert.ok(matchesLabels(t.labelSelector?.matchLabels, podLabels));
      });

      test('exposes /metrics on the http port to Prometheus', () => {
        const annotations = d.template.metadata.annotations ?? {};
        assert.equal(annotations['prometheus.io/scrape'], 'true');
        assert.equal(annotations['prometheus.io/port'], String(HTTP_PORT));
        assert.equal(annotations['prometheus.io/path'], '/metrics');
      });

      test('mounts Secrets whole and read-only so rotations reach the hot-reloading service', () => {
        const c = pod.containers[0]!;
        for (const volume of (pod.volumes ?? []).filter((v) => v.secret)) {
          const mount = c.volumeMounts?.find((m) => m.name === volume.name);
          assert.ok(mount, `secret volume ${volume.name} is not mounted`);
          assert.equal(mount.readOnly, true);
          assert.equal(mount.subPath, undefined, 'a subPath mount never sees a rotated Secret');
        }
      });
    });
  }

  test('the Secrets that hold WeChat credentials are mounted where they belong', () => {
    const secretsOf = (name: string) =>
      (
        spec<DeploymentSpec>(deployments.find((d) => d.doc.metadata.name === name)!).template.spec.volumes ??
        []
      ).flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    assert.deepEqual(secretsOf('auth-verify'), ['auth-verify-wechat']);
    assert.deepEqual(secretsOf('payment-callback').sort(), [
      'payment-callback-wechatpay',
      'payment-callback-wechatpay-platform',
    ]);
    assert.deepEqual(secretsOf(SANDBOX), ['wechat-sandbox']);
    for (const name of ['session', 'behaviour-projector']) assert.deepEqual(secretsOf(name), []);
  });

  test('session runs at least 3 replicas everywhere, behaviour-projector 3 in production', () => {
    for (const [overlay, build] of overlayEntries) {
      const replicas = (name: string) => {
        const override = build.kustomizations
          .flatMap(({ k }) => k.replicas ?? [])
          .find((r) => r.name === name);
        const base = ofKind(build.resources, 'Deployment').find((d) => d.doc.metadata.name === name);
        return override?.count ?? spec<DeploymentSpec>(base!).replicas ?? 1;
      };
      assert.ok(replicas('session') >= 3, `${overlay}: session replicas`);
      if (overlay === 'production') assert.equal(replicas('behaviour-projector'), 3);
    }
  });

  test('overlays replace every image, production with a pinned release', () => {
    for (const [overlay, build] of overlayEntries) {
      const images = build.kustomizations.flatMap(({ k }) => k.images ?? []);
      for (const d of ofKind(build.resources, 'Deployment').filter((o) => !isDevInfra(o))) {
        const entry = images.find((i) => i.name === `wxmesh/${d.doc.metadata.name}`);
        assert.ok(entry, `${overlay} does not set the image of ${d.doc.metadata.name}`);
        if (overlay === 'production') {
          assert.ok(entry.newName, 'production pulls from its registry');
          assert.ok(entry.digest ?? (entry.newTag && entry.newTag !== 'latest'), 'production pins a release');
        }
      }
    }
  });

  test('every domain service sits behind the gateway and knows peers by their mTLS identity, in every overlay', () => {
    const required: Record<string, string> = { EDGE_BEHIND_GATEWAY: 'true', PEER_IDENTITY: 'mtls' };
    for (const d of deployments.filter((o) => CONTRACTS[o.doc.metadata.name])) {
      const c = spec<DeploymentSpec>(d).template.spec.containers[0]!;
      for (const [name, value] of Object.entries(required)) {
        assert.equal(envOf(c, name), value, `${d.doc.metadata.name}: ${name}`);
      }
      const namespace = envOf(c, 'MESH_NAMESPACE');
      assert.ok(namespace === undefined || namespace === NAMESPACE, `${d.doc.metadata.name}: MESH_NAMESPACE`);
    }
    // Patches are read, not applied: none may set these to anything else. (A ConfigMap cannot:
    // a container's own env wins over envFrom.)
    const visit = (value: unknown, file: string): void => {
      if (Array.isArray(value)) return value.forEach((v) => visit(v, file));
      if (!isObject(value)) return;
      const name = typeof value.name === 'string' ? value.name : undefined;
      if (name !== undefined && name in required && 'value' in value) {
        assert.equal(value.value, required[name], `${rel(file)} sets ${name}`);
      }
      for (const v of Object.values(value)) visit(v, file);
    };
    for (const [, build] of overlayEntries) for (const p of build.patches) visit(p.doc, p.file);
  });

  test('peers are addressed by Service name on the grpc port, exactly the peers its code calls, which the mesh allows', () => {
    for (const d of deployments) {
      const caller = d.doc.metadata.name;
      const addrs = (spec<DeploymentSpec>(d).template.spec.containers[0]!.env ?? []).filter((e) =>
        e.name.endsWith('_ADDR'),
      );
      const targets = addrs.map((e) => {
        const [host, port] = (e.value ?? '').split(':');
        assert.equal(e.name, `${host!.toUpperCase().replaceAll('-', '_')}_ADDR`);
        assert.equal(port, String(GRPC_PORT));
        return host!;
      });
      const called = [
        ...new Set(
          peerCalls()
            .filter((c) => c.caller === caller)
            .map((c) => serviceOf(c.callee)),
        ),
      ];
      assert.deepEqual(
        targets.sort(),
        called.sort(),
        `${caller} peer addresses (its definePeer declarations)`,
      );
      for (const [overlay, build] of overlayEntries) {
        if (!ofKind(build.resources, 'Deployment').some((o) => o.doc.metadata.name === caller)) continue;
        for (const target of called) {
          for (const [path, at] of codeCalls(caller, target)) {
            assert.ok(
              allowed(build.resources, target, meshPrincipal(caller), path, GRPC_PORT),
              `${overlay}: ${caller} calls ${path} (${at}) but the mesh denies it`,
            );
          }
        }
      }
    }
  });

  test('no patch weakens the pod security the base guarantees', () => {
    const forbidden: Array<[string, unknown]> = [
      ['runAsNonRoot', false],
      ['readOnlyRootFilesystem', false],
      ['allowPrivilegeEscalation', true],
      ['privileged', true],
      ['runAsUser', 0],
      ['hostNetwork', true],
      ['hostPID', true],
    ];
    const visit = (value: unknown, file: string): void => {
      if (Array.isArray(value)) return value.forEach((v) => visit(v, file));
      if (!isObject(value)) return;
      for (const [key, bad] of forbidden)
        assert.notEqual(value[key], bad, `${rel(file)} sets ${key}: ${bad}`);
      if (isObject(value.capabilities))
        assert.equal(value.capabilities.add, undefined, `${rel(file)} adds capabilities`);
      for (const v of Object.values(value)) visit(v, file);
    };
    for (const [, build] of overlayEntries) for (const p of build.patches) visit(p.doc, p.file);
    for (const { file, doc } of everyObject) visit(doc, file);
  });
});

describe('Services', () => {
  // The monitoring component's headless scrape Service spans every pod on the agent's port only
  // (components.spec.ts checks it); the mesh routes the services' own Services.
  const services = ofKind(everyObject, 'Service').filter((s) => s.doc.metadata.name !== 'wxmesh-metrics');

  test('every Service names its grpc and http ports with their app protocols', () => {
    assert.ok(services.length >= 6);
    for (const s of services) {
      const ports = spec<ServiceSpec>(s).ports.map((p) => [p.name, p.port, p.targetPort, p.appProtocol]);
      assert.deepEqual(
        ports,
        [
          ['grpc', GRPC_PORT, 'grpc', 'grpc'],
          ['http', HTTP_PORT, 'http', 'http'],
        ],
        s.doc.metadata.name,
      );
    }
  });

  test('every Service selects exactly its Deployment, and every Deployment has one', () => {
    const deployments = ofKind(everyObject, 'Deployment');
    for (const s of services) {
      const selected = deployments.filter((d) =>
        matchesLabels(spec<ServiceSpec>(s).selector, spec<DeploymentSpec>(d).template.metadata.labels),
      );
      assert.deepEqual(
        selected.map((d) => d.doc.metadata.name),
        [s.doc.metadata.name],
      );
    }
    for (const d of deployments) {
      assert.ok(
        services.some((s) => s.doc.metadata.name === d.doc.metadata.name),
        `${d.doc.metadata.name}`,
      );
    }
  });
});

describe('Istio security', () => {
  test('mTLS is STRICT for the whole namespace and nowhere relaxed', () => {
    const policies = ofKind(everyObject, 'PeerAuthentication');
    const namespaceWide = policies.filter(
      (p) =>
        p.doc.metadata.namespace === NAMESPACE &&
        spec<{ selector?: unknown }>(p).selector === undefined &&
        spec<{ mtls?: { mode?: string } }>(p).mtls?.mode === 'STRICT',
    );
    assert.equal(namespaceWide.length, 1);
    for (const p of policies) {
      const s = spec<{ mtls?: { mode?: string }; portLevelMtls?: Record<string, { mode?: string }> }>(p);
      assert.equal(s.mtls?.mode, 'STRICT');
      for (const level of Object.values(s.portLevelMtls ?? {})) assert.equal(level.mode, 'STRICT');
    }
    for (const [name, build] of overlayEntries) {
      assert.ok(
        ofKind(build.resources, 'PeerAuthentication').length > 0,
        `${name} renders no PeerAuthentication`,
      );
    }
  });

  test('a namespace-wide deny-all AuthorizationPolicy exists in every overlay', () => {
    for (const [name, build] of overlayEntries) {
      const denyAll = ofKind(build.resources, 'AuthorizationPolicy').filter((p) => {
        const s = spec<AuthorizationPolicySpec | null>(p) ?? {};
        return (
          p.doc.metadata.namespace === NAMESPACE &&
          s.selector === undefined &&
          (s.action ?? 'ALLOW') === 'ALLOW' &&
          (s.rules ?? []).length === 0
        );
      });
      assert.equal(denyAll.length, 1, `${name}: deny-all`);
    }
  });

  const allowPolicies = ofKind(everyObject, 'AuthorizationPolicy').filter(
    (p) => (spec<AuthorizationPolicySpec | null>(p)?.action ?? 'ALLOW') === 'ALLOW',
  );
  const serviceAccounts = new Set(ofKind(everyObject, 'ServiceAccount').map((s) => s.doc.metadata.name));

  test('every ALLOW rule names the caller principals, ports and paths it opens (no open allow)', () => {
    for (const policy of allowPolicies) {
      const where = `${rel(policy.file)} (${policy.doc.metadata.name})`;
      const s = spec<AuthorizationPolicySpec | null>(policy) ?? {};
      if ((s.rules ?? []).length === 0) continue; // the deny-all
      assert.ok(s.selector?.matchLabels, `${where}: an ALLOW with rules must select its workload`);
      for (const rule of s.rules ?? []) {
        assert.ok(rule.from && rule.from.length > 0, `${where}: a rule without 'from' admits anyone`);
        assert.equal(rule.when, undefined, `${where}: ALLOW rules do not use conditions`);
        for (const { source } of rule.from) {
          assert.deepEqual(Object.keys(source), ['principals'], `${where}: sources name principals only`);
          for (const principal of source.principals!) {
            assert.ok(!principal.includes('*'), `${where}: wildcard principal ${principal}`);
            const sa = principal.startsWith(`cluster.local/ns/${NAMESPACE}/sa/`)
              ? principal.split('/').pop()!
              : '';
            assert.ok(
              principal === INGRESS || serviceAccounts.has(sa) || OUTSIDE_PRINCIPALS.includes(sa),
              `${where}: unknown principal ${principal} (neither a wxmesh ServiceAccount nor a peer a proto names)`,
            );
          }
        }
        assert.ok(rule.to && rule.to.length > 0, `${where}: a rule without 'to' opens every path`);
        for (const { operation } of rule.to) {
          assert.deepEqual(
            Object.keys(operation)
              .filter((k) => k !== 'methods')
              .sort(),
            ['paths', 'ports'],
            `${where}: operations name ports and paths only`,
          );
          for (const port of operation.ports!)
            assert.ok([String(GRPC_PORT), String(HTTP_PORT)].includes(port));
          for (const path of operation.paths!)
            assert.ok(!['*', '/*'].includes(path), `${where}: opens every path`);
        }
      }
    }
  });

  test('every allowed path is a real RPC of the target service, a standard gRPC path, or a known endpoint', () => {
    const contractPaths = new Set(Object.values(CONTRACTS).flatMap(rpcPaths));
    for (const policy of allowPolicies) {
      const s = spec<AuthorizationPolicySpec | null>(policy) ?? {};
      const target = s.selector?.matchLabels?.['app.kubernetes.io/name'];
      if (target === undefined) continue;
      const contract = CONTRACTS[target];
      for (const rule of s.rules ?? []) {
        const fromIngress = rule.from!.some(({ source }) => source.principals!.includes(INGRESS));
        for (const { operation } of rule.to!) {
          const ports = operation.ports!;
          for (const path of operation.paths!) {
            const where = `${policy.doc.metadata.name}: ${path} on ${ports.join(',')}`;
            if (target === SANDBOX) {
              assert.ok(SANDBOX_PATHS.includes(path), `${where} is not a WeChat API path the sandbox serves`);
              assert.deepEqual(ports, [String(HTTP_PORT)]);
              continue;
            }
            assert.ok(contract, `${where}: no contract for ${target}`);
            if (ports.includes(String(GRPC_PORT))) {
              assert.ok(!fromIngress, `${where}: the ingress never reaches the grpc port`);
              assert.ok(
                rpcPaths(contract).includes(path) ||
                  HEALTH_PATHS.includes(path) ||
                  REFLECTION_PATHS.includes(path),
                `${where} is not an RPC of ${contract.typeName}${contractPaths.has(path) ? ' (it belongs to another service)' : ''}`,
              );
            }
            if (ports.includes(String(HTTP_PORT))) {
              assert.ok(
                rpcPaths(contract).includes(path) || (WEBHOOKS[target] ?? []).includes(path),
                `${where} is neither an RPC of ${contract.typeName} nor its webhook`,
              );
            }
          }
        }
      }
    }
  });

  test('the code reads its peer calls from definePeer declarations the test can parse', () => {
    const calls = peerCalls();
    assert.ok(calls.length > 0, 'no definePeer(<Service>, [...]) declaration found under services/*/src');
    for (const call of calls) {
      assert.ok(
        Object.keys(CONTRACTS).includes(call.caller),
        `${call.at}: ${call.caller} is not a domain service`,
      );
    }
  });

  test("every RPC the code calls on a peer is one the callee's proto lets that peer call", () => {
    const problems = peerCalls()
      .filter((c) => !protoAllowsPeer(c.method, c.caller))
      .map(
        (c) =>
          `${c.caller} calls ${pathOf(c.callee, c.method)} (${c.at}), but its proto allows ` +
          `${describeAccess(c.method)}: add ${c.caller} to its peers or stop calling it`,
      );
    assert.deepEqual(problems, []);
  });

  /**
   * What a principal must reach on a service's grpc port. A wxmesh service: exactly what its code
   * calls. Another identity a proto names (business-backend, operator): what the protos grant it by
   * name; `*` peers and PUBLIC RPCs are permitted to it but not required.
   */
  function eastWestExpectation(
    principal: string,
    target: string,
  ): { required: Map<string, string>; permitted: (method: DescMethod) => boolean } {
    const contract = CONTRACTS[target]!;
    if (!OUTSIDE_PRINCIPALS.includes(principal)) {
      const required = codeCalls(principal, target);
      return { required, permitted: (m) => required.has(pathOf(contract, m)) };
    }
    const granted = contract.methods.filter((m) => protoAllowsPeer(m, principal, true));
    return {
      required: new Map(granted.map((m) => [pathOf(contract, m), `proto: ${describeAccess(m)}`])),
      permitted: (m) => protoAllowsPeer(m, principal),
    };
  }

  test('east-west gRPC is exactly what the code calls and the protos grant, in every overlay', () => {
    for (const [overlay, build] of overlayEntries) {
      const principals = [
        ...new Set([
          ...ofKind(build.resources, 'ServiceAccount').map((s) => s.doc.metadata.name),
          ...OUTSIDE_PRINCIPALS,
        ]),
      ];
      const problems: string[] = [];
      for (const [target, contract] of Object.entries(CONTRACTS)) {
        for (const name of principals) {
          const principal = meshPrincipal(name);
          const { required, permitted } = eastWestExpectation(name, target);
          const reason = OUTSIDE_PRINCIPALS.includes(name)
            ? 'the proto does not grant it'
            : `its code does not call (no definePeer in services/${name}/src declares it)`;
          for (const method of contract.methods) {
            const path = pathOf(contract, method);
            const admitting = admittingPolicies(build.resources, target, principal, path, GRPC_PORT);
            if (admitting.length > 0 && !permitted(method)) {
              problems.push(
                `${admitting.map(policyName).join(', ')} allows ${name} -> ${path}, which ${reason}`,
              );
            }
            if (admitting.length === 0 && required.has(path)) {
              problems.push(
                `${policiesToFix(build.resources, target)} misses ${name} -> ${path} ` +
                  `(${required.get(path)}): that call would be denied in the mesh`,
              );
            }
            if (allowed(build.resources, target, principal, path, HTTP_PORT)) {
              problems.push(`${name} reaches ${path} on ${target}'s http port: peers use the grpc port`);
            }
          }
          for (const path of [...HEALTH_PATHS, ...REFLECTION_PATHS]) {
            const admitting = admittingPolicies(build.resources, target, principal, path, GRPC_PORT);
            const mayProbe = HEALTH_PATHS.includes(path) && required.size > 0;
            if (admitting.length > 0 && !mayProbe) {
              problems.push(
                `${admitting.map(policyName).join(', ')} allows ${name} -> ${path}, ` +
                  (HEALTH_PATHS.includes(path) ? `though ${name} calls no RPC of ${target}` : 'reflection'),
              );
            }
          }
        }
      }
      assert.deepEqual(
        problems,
        [],
        `${overlay}: east-west authorization differs from the code and the protos`,
      );
    }
  });

  test('the ingress gateway reaches exactly the PUBLIC and EDGE RPCs, never an INTERNAL or OPERATOR one', () => {
    for (const [overlay, build] of overlayEntries) {
      const problems: string[] = [];
      for (const [target, contract] of Object.entries(CONTRACTS)) {
        for (const method of contract.methods) {
          const path = pathOf(contract, method);
          const admitting = admittingPolicies(build.resources, target, INGRESS, path, HTTP_PORT);
          if (admitting.length > 0 && !isEdgeRpc(method)) {
            problems.push(
              `${admitting.map(policyName).join(', ')} exposes ${path} (${describeAccess(method)}) through the ingress`,
            );
          }
          if (admitting.length === 0 && isEdgeRpc(method)) {
            problems.push(
              `${policiesToFix(build.resources, target)} misses the ingress -> ${path} (${describeAccess(method)})`,
            );
          }
        }
      }
      assert.deepEqual(problems, [], `${overlay}: ingress authorization differs from the protos`);
    }
  });

  test('the edge routes no INTERNAL or OPERATOR RPC', () => {
    for (const [overlay, build] of overlayEntries) {
      const problems = edgeRoutes(build.resources).flatMap(({ vs, route }) =>
        INTERNAL_ONLY.filter((path) => (route.match ?? [{}]).some((m) => uriMatches(m, path))).map(
          (path) => `VirtualService ${vs} route ${route.name ?? '(unnamed)'} routes ${path} to the edge`,
        ),
      );
      assert.deepEqual(problems, [], overlay);
    }
  });

  test('no INTERNAL or OPERATOR RPC (GetAccessToken, InvalidateAccessToken ...) is reachable from the ingress gateway', () => {
    const tokens = ['GetAccessToken', 'InvalidateAccessToken'].map(
      (m) => `/${AuthVerifyService.typeName}/${m}`,
    );
    for (const path of tokens)
      assert.ok(INTERNAL_ONLY.includes(path), `${path} is not INTERNAL-only in its proto`);
    for (const [overlay, build] of overlayEntries) {
      for (const [target, contract] of Object.entries(CONTRACTS)) {
        for (const path of INTERNAL_ONLY.filter((p) => rpcPaths(contract).includes(p))) {
          for (const port of [GRPC_PORT, HTTP_PORT]) {
            assert.equal(allowed(build.resources, target, INGRESS, path, port), false, `${overlay}: ${path}`);
          }
        }
      }
      // ...while the mesh does reach INTERNAL-only RPCs (so the check above is not vacuous).
      const reached = Object.entries(CONTRACTS).some(([target, contract]) =>
        INTERNAL_ONLY.filter((p) => rpcPaths(contract).includes(p)).some((path) =>
          [...OUTSIDE_PRINCIPALS, ...Object.keys(CONTRACTS)].some((name) =>
            allowed(build.resources, target, meshPrincipal(name), path, GRPC_PORT),
          ),
        ),
      );
      assert.ok(reached, `${overlay}: no principal reaches any INTERNAL-only RPC`);
    }
  });

  test('the ingress gateway reaches only the http port, exactly on the paths the edge routes', () => {
    for (const [overlay, build] of overlayEntries) {
      for (const [target, contract] of Object.entries(CONTRACTS)) {
        const candidates = [
          ...rpcPaths(contract),
          ...(WEBHOOKS[target] ?? []),
          ...HEALTH_PATHS,
          ...REFLECTION_PATHS,
        ];
        for (const path of candidates) {
          assert.equal(
            allowed(build.resources, target, INGRESS, path, GRPC_PORT),
            false,
            `${target} ${path} on grpc`,
          );
        }
        const allowedPaths = candidates.filter((p) =>
          allowed(build.resources, target, INGRESS, p, HTTP_PORT),
        );
        const routedPaths = candidates.filter((p) =>
          edgeRoutes(build.resources).some(
            ({ route, service }) => service === target && (route.match ?? [{}]).some((m) => uriMatches(m, p)),
          ),
        );
        assert.deepEqual(allowedPaths, routedPaths, `${overlay}: ${target} edge policy and routes differ`);
        assert.ok(allowedPaths.length > 0, `${overlay}: ${target} is not reachable from the edge at all`);
      }
      for (const path of ['/metrics', '/readyz', '/healthz']) {
        for (const target of Object.keys(CONTRACTS)) {
          assert.equal(allowed(build.resources, target, INGRESS, path, HTTP_PORT), false, `${target}${path}`);
        }
      }
    }
  });

  const headers = Object.values(WECHAT_HEADERS).map((h) => h.header);

  test('X-WX-* headers reach an http port only from the ingress gateway', () => {
    for (const [overlay, build] of overlayEntries) {
      const deny = ofKind(build.resources, 'AuthorizationPolicy')
        .filter((p) => p.doc.metadata.namespace === NAMESPACE)
        .map((p) => spec<AuthorizationPolicySpec>(p))
        .filter((s) => s.action === 'DENY' && s.selector === undefined);
      for (const header of headers) {
        const covering = deny
          .flatMap((s) => s.rules ?? [])
          .filter(
            (r) =>
              r.when?.length === 1 &&
              r.when[0]!.key === `request.headers[${header}]` &&
              r.when[0]!.values?.includes('*') &&
              r.from?.length === 1 &&
              JSON.stringify(r.from[0]!.source) === JSON.stringify({ notPrincipals: [INGRESS] }) &&
              r.to?.some(
                (t) => t.operation.ports?.includes(String(HTTP_PORT)) && t.operation.paths === undefined,
              ),
          );
        assert.equal(covering.length, 1, `${overlay}: nothing denies ${header} from non-ingress callers`);
      }
    }
  });

  test('the ingress gateway refuses X-WX-* from anyone but the cloud gateway, and webhooks strip them', () => {
    for (const [overlay, build] of overlayEntries) {
      const edge = ofKind(build.resources, 'AuthorizationPolicy').filter(
        (p) => p.doc.metadata.namespace === 'istio-system',
      );
      assert.equal(edge.length, 1, `${overlay}: the ingress gateway policy`);
      const s = spec<AuthorizationPolicySpec>(edge[0]!);
      assert.equal(s.action, 'DENY');
      assert.equal(s.selector?.matchLabels?.istio, 'ingressgateway');
      for (const header of headers) {
        const rule = (s.rules ?? []).find((r) => r.when?.some((w) => w.key === `request.headers[${header}]`));
        assert.ok(rule, `${overlay}: the gateway does not police ${header}`);
        const blocks = rule.from?.[0]?.source.notRemoteIpBlocks as string[] | undefined;
        assert.ok(
          blocks && blocks.length > 0 && !blocks.includes('0.0.0.0/0'),
          `${overlay}: ${header} sources`,
        );
      }
      const webhookRoutes = edgeRoutes(build.resources).filter(
        ({ service, route }) =>
          (route.match ?? []).some((m) =>
            Object.values(WEBHOOKS)
              .flat()
              .includes(m.uri?.exact ?? (m.uri?.prefix === undefined ? '' : `${m.uri.prefix}*`)),
          ) && Object.keys(WEBHOOKS).includes(service),
      );
      assert.equal(webhookRoutes.length, Object.values(WEBHOOKS).flat().length);
      for (const { route } of webhookRoutes) {
        assert.deepEqual([...(route.headers?.request?.remove ?? [])].sort(), [...headers].sort(), route.name);
      }
    }
  });

  test("sidecars hand the app the caller's mTLS identity in x-forwarded-client-cert (PEER_IDENTITY=mtls)", () => {
    // Istio's sidecars append the verified client certificate (URI = SPIFFE id) to XFCC on every
    // inbound request (APPEND_FORWARD); the kit reads the last element. Nothing may configure
    // another mode that drops or passes through an unverified header.
    const settings: Array<{ where: string; value: unknown }> = [];
    const visit = (value: unknown, where: string): void => {
      if (Array.isArray(value)) return value.forEach((v) => visit(v, where));
      if (!isObject(value)) return;
      for (const [key, v] of Object.entries(value)) {
        if (key === 'forwardClientCertDetails') settings.push({ where, value: v });
        if (key === 'proxy.istio.io/config' && typeof v === 'string') visit(parseYaml(v), `${where} ${key}`);
        visit(v, where);
      }
    };
    for (const file of allFiles) for (const doc of parseFile(file)) visit(doc, rel(file));
    for (const { where, value } of settings) {
      assert.ok(
        ['SANITIZE_SET', 'APPEND_FORWARD'].includes(String(value)),
        `${where}: forwardClientCertDetails ${String(value)}`,
      );
    }
    assert.deepEqual(
      ofKind(everyObject, 'EnvoyFilter').map(policyName),
      [],
      "an EnvoyFilter could rewrite the sidecar's connection manager, and with it XFCC",
    );
  });
});

describe('Istio traffic and telemetry', () => {
  const services = new Map(
    ofKind(everyObject, 'Service').map((s) => [fqdn(s.doc.metadata.name), spec<ServiceSpec>(s)]),
  );

  test('every gRPC service has a DestinationRule with connection pools and outlier detection', () => {
    const rules = ofKind(production, 'DestinationRule').map((d) => spec<Record<string, unknown>>(d));
    for (const name of Object.keys(CONTRACTS)) {
      const rule = rules.find((r) => r.host === fqdn(name));
      assert.ok(rule, `no DestinationRule for ${name}`);
      const policy = rule.trafficPolicy as Record<string, Record<string, unknown>>;
      assert.ok(policy.connectionPool?.tcp && policy.connectionPool.http, `${name}: connection pool`);
      assert.ok(policy.outlierDetection?.maxEjectionPercent, `${name}: outlier detection bounded`);
      assert.notEqual(policy.tls?.mode, 'DISABLE');
    }
  });

  test('every VirtualService routes to an existing Service port through a declared Gateway', () => {
    const gateways = new Set(ofKind(everyObject, 'Gateway').map((g) => g.doc.metadata.name));
    for (const vs of ofKind(everyObject, 'VirtualService')) {
      const s = spec<VirtualServiceSpec>(vs);
      for (const gateway of s.gateways ?? []) assert.ok(gateway === 'mesh' || gateways.has(gateway), gateway);
      for (const route of s.http ?? []) {
        for (const { destination } of route.route) {
          const service = services.get(destination.host);
          assert.ok(service, `${vs.doc.metadata.name}: unknown host ${destination.host}`);
          if (destination.port) assert.ok(service.ports.some((p) => p.port === destination.port!.number));
        }
      }
    }
  });

  test('traces go to a tracing provider the mesh configuration declares', () => {
    const telemetry = ofKind(production, 'Telemetry');
    assert.equal(telemetry.length, 1);
    const providers = spec<{ tracing: Array<{ providers: Array<{ name: string }> }> }>(
      telemetry[0]!,
    ).tracing.flatMap((t) => t.providers.map((p) => p.name));
    const operator = allFiles
      .flatMap((f) => parseFile(f))
      .find((d): d is K8sObject => isObject(d) && d.kind === 'IstioOperator');
    assert.ok(operator, 'the IstioOperator declaring the extension providers');
    const declared = (
      operator.spec as {
        meshConfig: { extensionProviders: Array<{ name: string; opentelemetry?: unknown }> };
      }
    ).meshConfig.extensionProviders;
    for (const name of providers) {
      assert.ok(declared.find((p) => p.name === name)?.opentelemetry, `${name} is not an OTLP provider`);
    }
  });
});

describe('overlays', () => {
  test('production renders nothing of wechat-sandbox; local does', () => {
    // Comments may mention it; no rendered value (name, env var, principal, host) may.
    const mentions = (build: Build) =>
      [...build.resources, ...build.patches]
        .filter(({ doc }) => JSON.stringify(doc).includes(SANDBOX))
        .map(({ file }) => rel(file));
    assert.deepEqual(mentions(overlays.production), []);
    assert.ok(mentions(overlays.local).length > 0);
    assert.ok(!production.some((r) => r.doc.metadata.name.includes(SANDBOX)));
    assert.ok(ofKind(overlays.local.resources, 'Deployment').some((d) => d.doc.metadata.name === SANDBOX));
  });
});
