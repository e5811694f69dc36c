import { randomBytes } from 'node:crypto';
import { createClient, ConnectError, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { SessionService, type LiveMessage } from '@wxmesh/contracts';
import { collectTopic, startServiceProcess, type ServiceProcess } from '@wxmesh/testing';
import { BEHAVIOUR_TOPIC, decodeBehaviourEvent } from '@wxmesh/events';

export type SessionClient = Client<typeof SessionService>;

/** A test-unique openid (the prefix keeps runs apart on a shared Redis/Kafka). */
export const RUN = randomBytes(4).toString('hex');
export const openidOf = (n: number | string) => `o_${RUN}_${n}`;
export const APPID = 'wx0123456789abcdef';

/** A session replica as its own process, with a connect-node gRPC client (not the kit's). */
export interface Replica {
  readonly process: ServiceProcess;
  readonly client: SessionClient;
  readonly replicaId: string;
}

export async function startReplica(
  infra: { redisUrl: string; kafkaBrokers: string },
  replicaId: string,
  env: Record<string, string> = {},
): Promise<Replica> {
  const process = await startServiceProcess('session', {
    env: {
      REDIS_URL: infra.redisUrl,
      KAFKA_BROKERS: infra.kafkaBrokers,
      REPLICA_ID: replicaId,
      ...env,
    },
    timeoutMs: 30_000,
  });
  const transport = createGrpcTransport({ baseUrl: `http://${process.grpcAddress}` });
  return { process, client: createClient(SessionService, transport), replicaId };
}

/** An Attach stream read in the background. */
export interface Channel {
  readonly channelId: Promise<string>;
  readonly replicaId: Promise<string>;
  readonly messages: LiveMessage[];
  /** Resolves when the stream ends: undefined for a clean end, the error otherwise. */
  readonly ended: Promise<ConnectError | undefined>;
  close(): void;
}

export function attach(client: SessionClient, sessionToken: string): Channel {
  const controller = new AbortController();
  const messages: LiveMessage[] = [];
  let onAttached!: (value: { channelId: string; replicaId: string }) => void;
  let onFailed!: (err: unknown) => void;
  const attached = new Promise<{ channelId: string; replicaId: string }>((resolve, reject) => {
    onAttached = resolve;
    onFailed = reject;
  });
  attached.catch(() => {});
  const channelId = attached.then((a) => a.channelId);
  const replicaId = attached.then((a) => a.replicaId);
  channelId.catch(() => {});
  replicaId.catch(() => {});
  const ended = (async () => {
    try {
      for await (const response of client.attach({ sessionToken }, { signal: controller.signal })) {
        if (response.item.case === 'attached') onAttached(response.item.value);
        else if (response.item.case === 'message') messages.push(response.item.value);
      }
      return undefined;
    } catch (err) {
      onFailed(err);
      return ConnectError.from(err);
    }
  })();
  return {
    channelId,
    replicaId,
    messages,
    ended,
    close: () => controller.abort(),
  };
}

/** Collects behaviour events for this run's users from the topic, from the beginning. */
export async function collectEvents(brokers: string) {
  const collector = await collectTopic(brokers, BEHAVIOUR_TOPIC, {
    keyPrefix: `o_${RUN}_`,
    keep: decodeBehaviourEvent,
  });
  return { events: collector.records, stop: collector.stop };
}
