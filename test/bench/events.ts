// `npm run bench -- events`: the A/B of libs/events' two fast paths against the library path they
// stand in for, on the consumer's per-record work: decode a record value (protobuf-es `fromBinary`
// vs the planned decoder in libs/events/src/fast/binary-decoder.ts) and validate the event
// (protovalidate vs the rule shortcut in libs/events/src/fast/event-rules.ts), in the same run.
//
// Records are realistic behaviour events (the payload mix, ids and identities the services emit),
// each a Buffer slice of one larger buffer, as kafkajs hands record values out of a fetch
// response. Cost is CPU time per record (process.cpuUsage, so other load on the machine inflates
// it less than wall time would), the median of BENCH_ROUNDS rounds; the variants alternate within
// each round so drift spreads over all of them. A fast path is worth keeping when it makes its
// step of decode+validate at least 15 % cheaper.
//
//   node --import tsx test/bench/events.ts
//   BENCH_RECORDS=20000 BENCH_ROUNDS=9 (defaults)
import { fromBinary } from '@bufbuild/protobuf';
import { createValidator } from '@bufbuild/protovalidate';
import { BehaviourEventSchema, type BehaviourEvent } from '@wxmesh/contracts';
import {
  behaviourEvent,
  decodeBehaviourEvent,
  encodeBehaviourEvent,
  validateBehaviourEvent,
  type BehaviourPayloadInit,
} from '@wxmesh/events';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const WARMUP_PASSES = 3;
const KEEP_THRESHOLD = 1.15;

type Decode = (bytes: Uint8Array) => BehaviourEvent;
type Validate = (event: BehaviourEvent) => void;

const libraryDecode: Decode = (bytes) => fromBinary(BehaviourEventSchema, bytes);
const fastDecode: Decode = decodeBehaviourEvent;
const libraryValidate = protovalidateOnly();
// On valid events (every record here) this is the shortcut alone; protovalidate only judges rejects.
const fastValidate: Validate = validateBehaviourEvent;

/** The library path: protovalidate, configured as libs/events configures it (V8 RegExp for `pattern`). */
function protovalidateOnly(): Validate {
  const patterns = new Map<string, RegExp>();
  const validator = createValidator({
    regexMatch: (pattern, against) => {
      const regex = patterns.get(pattern) ?? new RegExp(pattern, 'u');
      patterns.set(pattern, regex);
      return regex.test(against);
    },
  });
  return (event) => {
    const result = validator.validate(BehaviourEventSchema, event);
    if (result.kind !== 'valid') throw new Error(`bench record ${event.eventId} is not valid`);
  };
}

function payload(i: number): BehaviourPayloadInit {
  const id = i.toString(36).padStart(8, '0');
  switch (i % 8) {
    case 0:
      return { case: 'userLoggedIn', value: { sessionId: `sess_${id}` } };
    case 1:
      return {
        case: 'sessionStarted',
        value: { sessionId: `sess_${id}`, maxExpiresAt: { seconds: 1_767_225_600n } },
      };
    case 2:
      return {
        case: 'messageDelivered',
        value: {
          deliveryId: `dlv_${id}`,
          messageId: `msg_${id}`,
          channel: 2,
          templateId: 'ORDER_PAID_v2',
          attempts: 1,
        },
      };
    case 3:
      return {
        case: 'orderCreated',
        value: { outTradeNo: `WX20250101${id}`, amountTotal: 1999, currency: 'CNY' },
      };
    case 4:
      return {
        case: 'paymentSucceeded',
        value: {
          outTradeNo: `WX20250101${id}`,
          transactionId: `4200002${id}`,
          amountTotal: 1999,
          payerTotal: 1999,
          currency: 'CNY',
          paidAt: { seconds: 1_735_689_600n },
        },
      };
    case 5:
      return { case: 'userOnline', value: { replicaId: 'session-7c9f5d-x2k4q', channelId: `ch_${id}` } };
    case 6:
      return { case: 'sessionEnded', value: { sessionId: `sess_${id}`, reason: 2 } };
    default:
      return { case: 'phoneNumberBound', value: { countryCode: '86' } };
  }
}

const PRODUCERS = ['auth-verify', 'session', 'message-router', 'payment-callback'];

/** The record values of a fetch: encoded events, each a slice of one buffer. */
function records(count: number): Buffer[] {
  const encoded: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const user = (i % 5_000).toString().padStart(6, '0');
    const event = behaviourEvent({
      eventId: `${PRODUCERS[i % 4]}:${i.toString(36).padStart(22, '0')}`,
      aggregateId: `session:${(i >> 2).toString(36).padStart(22, '0')}`,
      aggregateVersion: i % 3 === 0 ? undefined : BigInt(1 + (i % 17)),
      occurredAt: 1_735_689_600_000 + i * 37,
      producer: PRODUCERS[i % 4]!,
      wechat: {
        openid: `oUpF8uMuAJO_M2pxb1Q9zN${user}`,
        appid: 'wx0123456789abcdef',
        unionid: i % 2 === 0 ? `o6_bmasdasdsad6_2sgVt7h${user}` : undefined,
        env: 'prod-3g4h5i',
        source: i % 5 === 0 ? 'wx_client' : undefined,
      },
      payload: payload(i),
    });
    encoded.push(encodeBehaviourEvent(event));
  }
  const fetched = Buffer.concat(encoded);
  const values: Buffer[] = [];
  let at = 0;
  for (const bytes of encoded) {
    values.push(fetched.subarray(at, at + bytes.length));
    at += bytes.length;
  }
  return values;
}

interface Pipeline {
  name: string;
  decode?: Decode;
  validate?: Validate;
}

const values = records(RECORDS);
const decoded = values.map(libraryDecode);
let sink = 0;

/** CPU nanoseconds per record of one pass of `pipeline` over every record. */
function pass({ decode, validate }: Pipeline): number {
  const started = process.cpuUsage();
  if (decode === undefined) {
    for (const event of decoded) validate!(event);
  } else {
    for (const value of values) {
      const event = decode(value);
      validate?.(event);
      sink += event.eventId.length;
    }
  }
  const used = process.cpuUsage(started);
  return ((used.user + used.system) * 1_000) / values.length;
}

const pipelines: Pipeline[] = [
  { name: 'decode: library', decode: libraryDecode },
  { name: 'decode: fast', decode: fastDecode },
  { name: 'validate: library', validate: libraryValidate },
  { name: 'validate: fast', validate: fastValidate },
  { name: 'library decode + library validate', decode: libraryDecode, validate: libraryValidate },
  { name: 'fast decode + library validate', decode: fastDecode, validate: libraryValidate },
  { name: 'library decode + fast validate', decode: libraryDecode, validate: fastValidate },
  { name: 'fast decode + fast validate', decode: fastDecode, validate: fastValidate },
];

for (const pipeline of pipelines) for (let i = 0; i < WARMUP_PASSES; i++) pass(pipeline);
const samples = new Map<string, number[]>(pipelines.map((p) => [p.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const pipeline of pipelines) samples.get(pipeline.name)!.push(pass(pipeline));
}
const cost = (name: string) => {
  const sorted = [...samples.get(name)!].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

// Each row: the step alone, then the step inside decode+validate with the other step on the
// library path and on its fast path. The ratio is library ns / fast ns (1.15 = 15 % cheaper).
const rows: [scenario: string, library: string, fast: string][] = [
  ['decoder: decode alone', 'decode: library', 'decode: fast'],
  [
    'decoder: decode+validate (library validate)',
    'library decode + library validate',
    'fast decode + library validate',
  ],
  [
    'decoder: decode+validate (fast validate)',
    'library decode + fast validate',
    'fast decode + fast validate',
  ],
  ['validation: validate alone', 'validate: library', 'validate: fast'],
  [
    'validation: decode+validate (library decode)',
    'library decode + library validate',
    'library decode + fast validate',
  ],
  [
    'validation: decode+validate (fast decode)',
    'fast decode + library validate',
    'fast decode + fast validate',
  ],
  ['both: decode+validate', 'library decode + library validate', 'fast decode + fast validate'],
];

console.log(`${RECORDS} records, ${ROUNDS} rounds, median CPU ns per record (lower is better)`);
console.log(`${'scenario'.padEnd(46)} ${'library'.padStart(9)} ${'fast'.padStart(9)} ${'ratio'.padStart(7)}`);
for (const [scenario, library, fast] of rows) {
  const ratio = cost(library) / cost(fast);
  const verdict = scenario.startsWith('both') ? '' : ratio >= KEEP_THRESHOLD ? '  >= 1.15' : '  < 1.15';
  console.log(
    `${scenario.padEnd(46)} ${cost(library).toFixed(0).padStart(9)} ${cost(fast).toFixed(0).padStart(9)} ${ratio.toFixed(2).padStart(6)}x${verdict}`,
  );
}
if (sink === 0) console.log('(no records decoded)');
