import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BEHAVIOUR_DLQ_TOPIC, BEHAVIOUR_TOPIC } from '@wxmesh/events';
import {
  isObject,
  loadOverlay,
  parseFile,
  podTemplateOf,
  rel,
  root,
  SECRET_ENV_NAME,
  SECRET_LITERALS,
  yamlFiles,
  type Build,
  type Loaded,
} from './manifest-tree.js';

// The deploy/components objects beyond the services themselves: Kafka topics, Jobs, HPAs,
// NetworkPolicies, the ArgoCD Application, and policies over every rendered object (no Secret
// values, production images pinned by digest). No schema package is a dependency here, so each
// kind is checked for the fields this repository relies on.

const PARTITIONS = 6;
const SERVICES = ['auth-verify', 'session', 'message-router', 'payment-callback', 'behaviour-projector'];
const overlays: Record<string, Build> = {
  local: loadOverlay('local'),
  production: loadOverlay('production'),
};
const production = overlays.production!.resources;
const ofKind = (objects: Loaded[], kind: string) => objects.filter((o) => o.doc.kind === kind);
const specOf = <T>(o: Loaded) => o.doc.spec as T;

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    restartPolicy?: string;
    automountServiceAccountToken?: boolean;
    securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
    containers: Array<{
      name: string;
      image: string;
      command?: string[];
      env?: Array<{ name: string; value?: string }>;
      resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
      securityContext?: {
        runAsNonRoot?: boolean;
        allowPrivilegeEscalation?: boolean;
        readOnlyRootFilesystem?: boolean;
        capabilities?: { drop?: string[] };
      };
    }>;
  };
}

/** The pod template of any workload kind, or undefined for objects that run nothing. */
const podTemplate = (o: Loaded) => podTemplateOf<PodTemplate>(o.doc);
const workloads = (objects: Loaded[]) => objects.filter((o) => podTemplate(o) !== undefined);
const batch = (objects: Loaded[]) => objects.filter((o) => o.doc.kind === 'Job' || o.doc.kind === 'CronJob');
const everyBuild = Object.entries(overlays);

describe('Kafka topics', () => {
  const topics = ofKind(production, 'KafkaTopic');
  test('production declares the behaviour topic and its DLQ as Strimzi KafkaTopics', () => {
    const names = topics.map((t) => specOf<{ topicName: string }>(t).topicName).sort();
    assert.deepEqual(names, [BEHAVIOUR_TOPIC, BEHAVIOUR_DLQ_TOPIC].sort());
  });

  test('each has 6 partitions, 3 replicas, min.insync.replicas 2 and unlimited retention', () => {
    for (const topic of topics) {
      assert.equal(topic.doc.apiVersion, 'kafka.strimzi.io/v1beta2', rel(topic.file));
      const spec = specOf<{ partitions: number; replicas: number; config: Record<string, string> }>(topic);
      assert.equal(spec.partitions, PARTITIONS, rel(topic.file));
      assert.equal(spec.replicas, 3, rel(topic.file));
      assert.equal(spec.config['min.insync.replicas'], '2', rel(topic.file));
      assert.equal(spec.config['retention.ms'], '-1', rel(topic.file));
      assert.equal(spec.config['retention.bytes'], '-1', rel(topic.file));
    }
  });

  test('the topics belong to the Strimzi cluster whose bootstrap the services dial', () => {
    // Generators are not rendered here: read the base's literal.
    const base = parseFile(join(root, 'deploy/base/kustomization.yaml'))[0] as {
      configMapGenerator: Array<{ literals: string[] }>;
    };
    const brokers = base.configMapGenerator
      .flatMap((g) => g.literals)
      .find((l) => l.startsWith('KAFKA_BROKERS='))!;
    const [, cluster, namespace] = /=([a-z0-9-]+)-kafka-bootstrap\.([a-z0-9-]+)\.svc/.exec(brokers) ?? [];
    assert.ok(cluster && namespace, `KAFKA_BROKERS is not a Strimzi bootstrap: ${brokers}`);
    for (const topic of topics) {
      assert.equal(topic.doc.metadata.labels?.['strimzi.io/cluster'], cluster, rel(topic.file));
      assert.equal(topic.doc.metadata.namespace, namespace, rel(topic.file));
    }
  });

  test('without Strimzi a Job ensures the same topics with a service image', () => {
    const job = ofKind(overlays.local!.resources, 'Job').find(
      (j) => j.doc.metadata.name === 'ensure-kafka-topics',
    );
    assert.ok(job, 'the local overlay (no Strimzi) runs the topic Job');
    const container = podTemplate(job)!.spec.containers[0]!;
    assert.match(container.image, /^wxmesh\/behaviour-projector:/);
    assert.ok(container.command && container.command.length > 0, 'the Job names its command');
    assert.equal(container.env?.find((e) => e.name === 'EVENTS_TOPIC_PARTITIONS')?.value, String(PARTITIONS));
  });
});

describe('Jobs and CronJobs', () => {
  for (const [overlay, build] of everyBuild) {
    for (const o of batch(build.resources)) {
      test(`${overlay}: ${o.doc.kind} ${o.doc.metadata.name} runs as hardened as the services and ends`, () => {
        const pod = podTemplate(o)!;
        assert.notEqual(pod.spec.restartPolicy ?? 'Always', 'Always');
        assert.equal(
          pod.metadata?.annotations?.['sidecar.istio.io/inject'],
          'false',
          'a sidecar would never end',
        );
        assert.equal(pod.spec.automountServiceAccountToken, false);
        assert.equal(pod.spec.securityContext?.runAsNonRoot, true);
        assert.equal(pod.spec.securityContext?.seccompProfile?.type, 'RuntimeDefault');
        for (const c of pod.spec.containers) {
          assert.ok(c.command?.length, `${c.name}: command`);
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
          assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
          assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${c.name}: requests`);
          assert.ok(c.resources?.limits?.cpu && c.resources.limits.memory, `${c.name}: limits`);
        }
      });
    }
  }

  test('the projector rebuild is an on-demand template in production, never a schedule', () => {
    const rebuild = ofKind(production, 'CronJob').find((c) => c.doc.metadata.name === 'projector-rebuild');
    assert.ok(rebuild);
    assert.equal(specOf<{ suspend: boolean }>(rebuild).suspend, true);
    assert.equal(specOf<{ concurrencyPolicy: string }>(rebuild).concurrencyPolicy, 'Forbid');
  });
});

describe('HorizontalPodAutoscalers', () => {
  const hpas = ofKind(production, 'HorizontalPodAutoscaler');
  test('every domain service has one in production', () => {
    assert.deepEqual(
      hpas.map((h) => specOf<{ scaleTargetRef: { name: string } }>(h).scaleTargetRef.name).sort(),
      [...SERVICES].sort(),
    );
  });

  test('each scales its Deployment from at least its base replicas, the projector up to the partitions', () => {
    for (const hpa of hpas) {
      assert.equal(hpa.doc.apiVersion, 'autoscaling/v2');
      const spec = specOf<{
        scaleTargetRef: { kind: string; name: string };
        minReplicas: number;
        maxReplicas: number;
      }>(hpa);
      const target = ofKind(production, 'Deployment').find(
        (d) => d.doc.metadata.name === spec.scaleTargetRef.name,
      );
      assert.ok(target && spec.scaleTargetRef.kind === 'Deployment', `${rel(hpa.file)}: target`);
      const replicas = specOf<{ replicas?: number }>(target).replicas ?? 1;
      assert.ok(spec.minReplicas >= replicas, `${rel(hpa.file)}: minReplicas below ${replicas}`);
      assert.ok(spec.maxReplicas > spec.minReplicas, rel(hpa.file));
      if (spec.scaleTargetRef.name === 'behaviour-projector') assert.ok(spec.maxReplicas <= PARTITIONS);
    }
  });
});

interface PolicyPeer {
  podSelector?: { matchLabels?: Record<string, string> };
  namespaceSelector?: { matchLabels?: Record<string, string> };
  ipBlock?: { cidr: string };
}
interface NetworkPolicySpec {
  podSelector: {
    matchLabels?: Record<string, string>;
    matchExpressions?: Array<{ key: string; operator: string; values: string[] }>;
  };
  policyTypes: string[];
  ingress?: Array<{ from?: PolicyPeer[]; ports?: Array<{ port: number }> }>;
  egress?: Array<{ to?: PolicyPeer[]; ports?: Array<{ port: number }> }>;
}

/** Whether a NetworkPolicy's podSelector selects pods with `labels` (matchLabels and `In` expressions). */
function selects(spec: NetworkPolicySpec, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(spec.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (spec.podSelector.matchExpressions ?? []).every(
    (e) => e.operator === 'In' && e.values.includes(labels[e.key] ?? ''),
  );
  return byLabels && byExpressions;
}

describe('NetworkPolicies', () => {
  const policies = ofKind(production, 'NetworkPolicy').map((p) => ({
    p,
    spec: specOf<NetworkPolicySpec>(p),
  }));
  const podLabels = workloads(production).map((w) => podTemplate(w)!.metadata?.labels ?? {});

  test('production denies all ingress and egress in the namespace by default', () => {
    const deny = policies.find(
      ({ spec }) =>
        Object.keys(spec.podSelector).length === 0 &&
        spec.policyTypes.includes('Ingress') &&
        spec.policyTypes.includes('Egress') &&
        !spec.ingress?.length &&
        !spec.egress?.length,
    );
    assert.ok(deny, 'no deny-all NetworkPolicy');
  });

  test('every domain service admits its grpc port from peers and its http port from the ingress gateway', () => {
    for (const name of SERVICES) {
      const labels = podLabels.find((l) => l['app.kubernetes.io/name'] === name)!;
      const rules = policies
        .filter(({ spec }) => selects(spec, labels))
        .flatMap(({ spec }) => spec.ingress ?? []);
      const admits = (port: number, from: (peer: PolicyPeer) => boolean) =>
        rules.some((r) => r.ports?.some((p) => p.port === port) && (r.from ?? []).some(from));
      assert.ok(
        admits(50051, (peer) => peer.podSelector?.matchLabels?.['app.kubernetes.io/part-of'] === 'wxmesh'),
        `${name}: grpc from peers`,
      );
      assert.ok(
        admits(8080, (peer) => peer.podSelector?.matchLabels?.istio === 'ingressgateway'),
        `${name}: http from the ingress gateway`,
      );
    }
  });

  test('every pod may resolve names and reach istiod, and every policy selects some pod', () => {
    for (const labels of podLabels) {
      const egress = policies
        .filter(({ spec }) => selects(spec, labels))
        .flatMap(({ spec }) => spec.egress ?? []);
      assert.ok(
        egress.some((r) => r.ports?.some((p) => p.port === 53)),
        `${JSON.stringify(labels)}: DNS`,
      );
      assert.ok(
        egress.some((r) => r.ports?.some((p) => p.port === 15012)),
        `${JSON.stringify(labels)}: istiod`,
      );
    }
    for (const { p, spec } of policies) {
      if (Object.keys(spec.podSelector).length === 0) continue;
      assert.ok(
        podLabels.some((l) => selects(spec, l)),
        `${rel(p.file)} selects no pod`,
      );
    }
  });
});

describe('policies over every rendered object', () => {
  test('no manifest carries a Secret value: no Secret objects, no secret-looking literals', () => {
    for (const [overlay, build] of everyBuild) {
      for (const o of build.resources) {
        assert.notEqual(o.doc.kind, 'Secret', `${overlay}: ${rel(o.file)} commits a Secret`);
        for (const c of podTemplate(o)?.spec.containers ?? []) {
          for (const e of c.env ?? []) {
            assert.ok(
              !(SECRET_ENV_NAME.test(e.name) && e.value),
              `${rel(o.file)}: ${e.name} has a literal value`,
            );
          }
        }
      }
      const text = [...build.files].map((f) => JSON.stringify(parseFile(f))).join('\n');
      for (const { what, pattern } of SECRET_LITERALS)
        assert.doesNotMatch(text, pattern, `${overlay}: ${what}`);
    }
    const productionGenerators = overlays.production!.kustomizations.flatMap(
      ({ k }) => k.secretGenerator ?? [],
    );
    assert.deepEqual(productionGenerators, [], 'production provisions its Secrets out of band');
  });

  test('production pins every image by digest', () => {
    const images = overlays.production!.kustomizations.flatMap(({ k }) => k.images ?? []);
    for (const o of workloads(production)) {
      for (const c of podTemplate(o)!.spec.containers) {
        const name = c.image.replace(/[:@].*$/, '');
        const entry = images.find((i) => i.name === name);
        assert.ok(entry, `${rel(o.file)}: production does not pin ${c.image}`);
        assert.match(entry.digest ?? '', /^sha256:[0-9a-f]{64}$/, `${name}: not pinned by digest`);
        assert.equal(entry.newTag, undefined, `${name}: a tag next to the digest`);
      }
    }
  });
});

interface ApplicationSpec {
  source: { path: string };
  destination: { namespace: string };
  ignoreDifferences?: Array<{ kind: string; jsonPointers?: string[] }>;
  syncPolicy: { automated?: unknown; syncOptions?: string[] };
}

describe('ArgoCD', () => {
  const applications = yamlFiles(join(root, 'deploy/argocd'))
    .flatMap((f) => parseFile(f).map((doc) => ({ f, doc })))
    .filter(({ doc }) => isObject(doc) && doc.kind === 'Application');

  test('an Application syncs the production overlay, ignoring the replica counts HPAs own', () => {
    assert.equal(applications.length, 1);
    const { f, doc } = applications[0]!;
    const spec = (doc as { spec: ApplicationSpec }).spec;
    assert.equal(spec.source.path, 'deploy/overlays/production', rel(f));
    assert.ok(existsSync(join(root, spec.source.path, 'kustomization.yaml')));
    assert.equal(spec.destination.namespace, 'wxmesh');
    assert.ok(spec.syncPolicy?.automated, 'automated sync');
    assert.ok(
      spec.ignoreDifferences?.some(
        (d) => d.kind === 'Deployment' && d.jsonPointers?.includes('/spec/replicas'),
      ),
      'HPAs own spec.replicas',
    );
    assert.ok(
      spec.syncPolicy.syncOptions?.includes('RespectIgnoreDifferences=true'),
      'ignoreDifferences apply to sync',
    );
  });
});

describe('dev infrastructure (Redis, Kafka, Jaeger)', () => {
  const INFRA = ['wxmesh-infra', 'observability'];
  const inInfra = (o: Loaded) => INFRA.includes(o.doc.metadata.namespace ?? o.doc.metadata.name);
  const local = overlays.local!;
  const infra = local.resources.filter(inInfra);

  test('the local overlay runs it and production none of it', () => {
    assert.deepEqual(
      production.filter(inInfra).map((o) => rel(o.file)),
      [],
    );
    const names = workloads(infra)
      .map((w) => w.doc.metadata.name)
      .sort();
    assert.deepEqual(names, ['jaeger', 'kafka', 'redis']);
  });

  test('its Services answer where the overlay points the services', () => {
    const hosts = ofKind(infra, 'Service').map((s) => {
      const ports = specOf<{ ports: Array<{ port: number }> }>(s).ports.map((p) => p.port);
      return ports.map(
        (port) => `${s.doc.metadata.name}.${s.doc.metadata.namespace}.svc.cluster.local:${port}`,
      );
    });
    const text = [...local.files].map((f) => JSON.stringify(parseFile(f))).join('\n');
    const wanted = [
      ...text.matchAll(
        /(?:redis:\/\/|KAFKA_BROKERS=|http:\/\/)([a-z0-9-]+\.(?:wxmesh-infra|observability)\.svc\.cluster\.local:\d+)/g,
      ),
    ].map((m) => m[1]!);
    assert.ok(wanted.length >= 3, `addresses found: ${wanted.join(', ')}`);
    for (const address of wanted) assert.ok(hosts.flat().includes(address), `nothing serves ${address}`);
  });

  for (const o of workloads(infra)) {
    test(`${o.doc.metadata.name} is probed, bounded and runs non-root without privileges`, () => {
      const pod = podTemplate(o)! as PodTemplate & {
        spec: { containers: Array<{ readinessProbe?: unknown; livenessProbe?: unknown }> };
      };
      assert.equal(pod.spec.securityContext?.runAsNonRoot, true);
      assert.equal(pod.spec.securityContext?.seccompProfile?.type, 'RuntimeDefault');
      assert.equal(pod.spec.automountServiceAccountToken, false);
      for (const c of pod.spec.containers) {
        assert.ok(c.readinessProbe && c.livenessProbe, `${c.name}: probes`);
        assert.ok(c.resources?.limits?.cpu && c.resources.limits.memory, `${c.name}: limits`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
      }
    });
  }
});

describe('monitoring', () => {
  const monitoring = join(root, 'deploy/components/monitoring');
  /** Every `wxmesh_*` name the code of libs/ and services/ mentions outside specs. */
  const exported = new Set(
    [...sourceFiles(join(root, 'libs')), ...sourceFiles(join(root, 'services'))]
      .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/wxmesh_[a-z0-9_]+/g)])
      .map((m) => m[0]),
  );
  /** Whether the code exports `metric` (a histogram's series, or a name built from an exported prefix). */
  const isExported = (metric: string) => {
    const base = metric.replace(/_(bucket|count|sum)$/, '');
    return exported.has(base) || [...exported].some((k) => k.endsWith('_cache') && base.startsWith(`${k}_`));
  };
  const metricsIn = (expr: string) => [...expr.matchAll(/\bwxmesh_[a-z0-9_]+/g)].map((m) => m[0]);

  test('every alert uses exported metrics and links to its runbook in docs/operations.md', () => {
    const rules = ofKind(production, 'PrometheusRule');
    assert.equal(rules.length, 1);
    const runbooks = readFileSync(join(root, 'docs/operations.md'), 'utf8');
    const alerts = specOf<{
      groups: Array<{ rules: Array<{ alert: string; expr: string; annotations: Record<string, string> }> }>;
    }>(rules[0]!).groups.flatMap((g) => g.rules);
    assert.ok(alerts.length >= 8);
    for (const alert of alerts) {
      const names = metricsIn(alert.expr);
      assert.ok(names.length > 0, `${alert.alert}: no wxmesh metric`);
      for (const name of names)
        assert.ok(isExported(name), `${alert.alert}: ${name} is not exported by the code`);
      const anchor = /operations\.md#([a-z0-9-]+)$/.exec(alert.annotations.runbook_url ?? '')?.[1];
      assert.ok(anchor, `${alert.alert}: runbook_url`);
      assert.match(
        runbooks,
        new RegExp(`^### ${anchor}$`, 'm'),
        `${alert.alert}: no runbook section ${anchor}`,
      );
    }
  });

  test('the dashboard shows RED, breakers, queue, lag, payment anomalies and cache hits from exported metrics', () => {
    const dashboard = JSON.parse(readFileSync(join(monitoring, 'wxmesh-dashboard.json'), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    const all = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsIn(t.expr)));
    for (const name of all) assert.ok(isExported(name), `dashboard: ${name} is not exported by the code`);
    for (const needed of [
      'wxmesh_rpc_server_duration_seconds_count',
      'wxmesh_rpc_server_duration_seconds_bucket',
      'wxmesh_breaker_state',
      'wxmesh_router_queue_depth',
      'wxmesh_events_consumer_lag',
      'wxmesh_payment_anomalies_total',
      'wxmesh_auth_verify_cache_lookups_total',
    ])
      assert.ok(all.includes(needed), `dashboard lacks ${needed}`);
    const generated = overlays.production!.kustomizations.flatMap(({ k }) => k.configMapGenerator ?? []);
    assert.ok(
      generated.some((g) => g.files?.includes('wxmesh-dashboard.json')),
      'the dashboard ConfigMap',
    );
  });

  test('Prometheus scrapes every wxmesh pod through a ServiceMonitor and its headless Service', () => {
    const monitors = ofKind(production, 'ServiceMonitor');
    assert.equal(monitors.length, 1);
    const monitor = specOf<{
      selector: { matchLabels: Record<string, string> };
      endpoints: Array<{ port: string; path: string }>;
    }>(monitors[0]!);
    const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    const targets = ofKind(production, 'Service').filter((s) =>
      matches(monitor.selector.matchLabels, s.doc.metadata.labels),
    );
    assert.equal(targets.length, 1, 'one Service carries the scrape port');
    const target = specOf<{
      clusterIP?: string;
      selector: Record<string, string>;
      ports: Array<{ name: string; port: number }>;
    }>(targets[0]!);
    assert.equal(target.clusterIP, 'None', 'headless: every pod is a target');
    const port = target.ports.find((p) => p.name === monitor.endpoints[0]!.port);
    assert.equal(port?.port, 15020, "the sidecar agent's merged metrics port");
    assert.equal(monitor.endpoints[0]!.path, '/stats/prometheus');
    for (const name of SERVICES) {
      const pod = podTemplate(ofKind(production, 'Deployment').find((d) => d.doc.metadata.name === name)!)!;
      assert.ok(matches(target.selector, pod.metadata?.labels), `${name} is not scraped`);
      assert.equal(pod.metadata?.annotations?.['prometheus.io/scrape'], 'true', `${name}: merging is off`);
    }
  });
});

/** TypeScript sources under `dir`, without specs, tests, build output and dependencies. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return ['node_modules', 'dist', 'test'].includes(entry.name) ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

describe('local overlay: the sandbox can deliver payment notifications', () => {
  test("WECHATPAY_NOTIFY_URL is payment-callback's in-cluster webhook", () => {
    const local = join(root, 'deploy/overlays/local/kustomization.yaml');
    const [k] = parseFile(local) as [{ configMapGenerator: Array<{ literals?: string[] }> }];
    const url = k.configMapGenerator
      .flatMap((g) => g.literals ?? [])
      .find((l) => l.startsWith('WECHATPAY_NOTIFY_URL='))
      ?.slice('WECHATPAY_NOTIFY_URL='.length);
    assert.ok(url, 'the local overlay sets WECHATPAY_NOTIFY_URL');
    const { hostname, port, pathname } = new URL(url);
    const service = ofKind(overlays.local!.resources, 'Service').find(
      (s) => `${s.doc.metadata.name}.${s.doc.metadata.namespace}.svc.cluster.local` === hostname,
    );
    assert.equal(service?.doc.metadata.name, 'payment-callback');
    assert.ok(specOf<{ ports: Array<{ port: number }> }>(service).ports.some((p) => String(p.port) === port));
    assert.equal(pathname, '/webhooks/wechatpay/notify');
  });
});
