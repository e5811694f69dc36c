// Prints wxmesh behaviour events, one line each: a starting point for a team that consumes
// wxmesh.behaviour.v1 with nothing of wxmesh but its generated contract (see docs/events.md).
//
//   KAFKA_BROKERS=host:9092 node --import tsx docs/examples/print-behaviour-events.ts \
//     [--topic wxmesh.behaviour.v1] [--from-beginning] [--max N] [--idle-ms MS]
//
// Each run joins a fresh consumer group and commits nothing, so it never moves anyone's position:
// it reads what arrives from now on, or each partition from its first record with --from-beginning.
// It stops after --max events, after --idle-ms without a new one (counted from joining the group),
// or on Ctrl-C.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fromBinary, toJson, type JsonObject } from '@bufbuild/protobuf';
import { BehaviourEventSchema } from '@wxmesh/contracts';
import kafkajs, { type KafkaMessage } from 'kafkajs';

const { values: args } = parseArgs({
  options: {
    topic: { type: 'string', default: 'wxmesh.behaviour.v1' },
    'from-beginning': { type: 'boolean', default: false },
    max: { type: 'string', default: 'Infinity' },
    'idle-ms': { type: 'string', default: 'Infinity' },
  },
});
const brokers = process.env.KAFKA_BROKERS?.split(',').filter(Boolean) ?? [];
const [max, idleMs] = [Number(args.max), Number(args['idle-ms'])];
if (brokers.length === 0 || !(max > 0) || !(idleMs > 0)) {
  console.error(
    'usage: KAFKA_BROKERS=host:port[,...] print-behaviour-events.ts [--topic T] [--from-beginning] [--max N] [--idle-ms MS]',
  );
  process.exit(2);
}

/** One line: when, what (the payload's message name), whose, the event id, the payload's fields. */
function describe(message: KafkaMessage): string {
  const event = fromBinary(BehaviourEventSchema, message.value ?? new Uint8Array());
  const json = toJson(BehaviourEventSchema, event) as JsonObject;
  // A payload added after this build decodes as no payload: the `event-type` header still names it.
  const kind = event.payload.value?.$typeName ?? `${message.headers?.['event-type']} (unknown here)`;
  const fields = event.payload.case && json[BehaviourEventSchema.field[event.payload.case]!.jsonName];
  const what = kind.replace('wxmesh.behaviour.v1.', '');
  return `${json.occurredAt} ${what} openid=${event.wechat?.openid} id=${event.eventId} ${JSON.stringify(fields ?? {})}`;
}

// kafkajs logs each request it retries at ERROR; one that outlasts its retries throws and ends the run.
const kafka = new kafkajs.Kafka({
  clientId: 'print-behaviour-events',
  brokers,
  logLevel: kafkajs.logLevel.NOTHING,
});
const consumer = kafka.consumer({ groupId: `print-behaviour-events-${randomUUID()}` });
let printed = 0;
let idleTimer: NodeJS.Timeout | undefined;
let finish = () => {};
const finished = new Promise<void>((resolve) => (finish = resolve));
const armIdle = () => {
  clearTimeout(idleTimer);
  if (Number.isFinite(idleMs)) idleTimer = setTimeout(finish, idleMs);
};
process.once('SIGINT', () => finish());
consumer.on(consumer.events.GROUP_JOIN, armIdle);

await consumer.connect();
await consumer.subscribe({ topics: [args.topic], fromBeginning: args['from-beginning'] });
await consumer.run({
  autoCommit: false,
  eachMessage: async ({ message }) => {
    if (printed >= max) return;
    console.log(describe(message));
    printed++;
    armIdle();
    if (printed >= max) finish();
  },
});
await finished;
clearTimeout(idleTimer);
await consumer.disconnect();
