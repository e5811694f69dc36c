import { randomBytes } from 'node:crypto';
import { createClient, ConnectError, type Client } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { SessionService, type LiveMessage } from '@wxmesh/contracts';
import {
  asPeer,
  collectTopic,
  startServiceProcess,
  waitFor,
  withBearer,
  type HeaderInterceptor,
  type ServiceProcess,
} from '@wxmesh/testing';
import { BEHAVIOUR_TOPIC, decodeBehaviourEvent } from '@wxmesh/events';

export type SessionClient = Client<typeof SessionService>;

/** A test-unique openid (the prefix keeps runs apart on a shared Redis/Kafka). */
export const RUN = randomBytes(4).toString('hex');
export const openidOf = (n: number | string) => `o_${RUN}_${n}`;
export const APPID = 'wx0123456789abcdef';

/**
 * A session replica as its own process, with connect-node clients (not the kit's) calling as each
 * party the proto serves: mesh peers on the grpc port, a signed-in user on the http port.
 */
export interface Replica {
  readonly process: ServiceProcess;
  readonly replicaId: string;
  /** As auth-verify (grpc): CreateSession, GetSession, TouchSession. */
  readonly auth: SessionClient;
  /** As message-router (grpc): Deliver, GetPresence, GetPresenceBatch. */
  readonly router: SessionClient;
  /** As the operator's admin tools (grpc): ListSessions, RevokeSession for any user, GetPresence. */
  readonly operator: SessionClient;
  /** As any mesh peer `name` (grpc), e.g. one the proto does not allow. */
  asPeer(name: string): SessionClient;
  /** As a mini-program user signed in with `sessionToken` (http, Connect over HTTP/1.1). */
  asUser(sessionToken: string): SessionClient;
}

/** A client of the replica's grpc port (east-west), as `interceptors` make the caller. */
export function grpcClient(process: ServiceProcess, interceptors: HeaderInterceptor[] = []): SessionClient {
  const transport = createGrpcTransport({ baseUrl: `http://${process.grpcAddress}`, interceptors });
  return createClient(SessionService, transport);
}

/** A client of the replica's http port (north-south), as `interceptors` make the caller. */
export function edgeClient(process: ServiceProcess, interceptors: HeaderInterceptor[] = []): SessionClient {
  const transport = createConnectTransport({ baseUrl: process.httpUrl, httpVersion: '1.1', interceptors });
  return createClient(SessionService, transport);
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
    timeoutMs: 120_000,
  });
  return {
    process,
    replicaId,
    auth: grpcClient(process, [asPeer('auth-verify')]),
    router: grpcClient(process, [asPeer('message-router')]),
    operator: grpcClient(process, [asPeer('operator')]),
    asPeer: (name) => grpcClient(process, [asPeer(name)]),
    asUser: (sessionToken) => edgeClient(process, [withBearer(sessionToken)]),
  };
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

/**
 * Opens `sessionToken`'s live channel on `replica` the way a mini-program does: Attach at the edge,
 * signed in with `bearer` (by default the same token).
 */
export function attach(replica: Replica, sessionToken: string, bearer = sessionToken): Channel {
  const client = replica.asUser(bearer);
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

/**
 * How the server ends `channel` (undefined: cleanly), for a channel the server must end: refused
 * or cut off. Fails after `timeoutMs` if the channel is still open, so a defect that leaves it
 * open fails the test instead of hanging it.
 */
export async function serverEnding(channel: Channel, timeoutMs = 10_000): Promise<ConnectError | undefined> {
  try {
    const { error } = await waitFor(async () => ({ error: await channel.ended }), {
      timeoutMs,
      message: 'the server ended the channel',
    });
    return error;
  } catch (err) {
    channel.close();
    throw err;
  }
}

/** Collects behaviour events for this run's users from the topic, from the beginning. */
export async function collectEvents(brokers: string) {
  const collector = await collectTopic(brokers, BEHAVIOUR_TOPIC, {
    keyPrefix: `o_${RUN}_`,
    keep: decodeBehaviourEvent,
  });
  return { events: collector.records, stop: collector.stop };
}
