// `npm run trace -- <trace id> [--jaeger <query url>]`: one trace from Jaeger as an indented span
// tree (offset, duration, service, operation, wechat.* attributes, errors, links). The query URL
// is --jaeger, else JAEGER_QUERY_URL, else the local one `npm run jaeger` / `npm start -- --jaeger`
// serve (http://127.0.0.1:16686; a cluster's Jaeger through kubectl port-forward works the same).
// Exits 1 when the trace is not there or Jaeger cannot be reached, 2 on bad arguments.
import { parseArgs } from 'node:util';
import { fetchJaegerTrace, formatTraceTree, traceServices, type JaegerTrace } from '@wxmesh/testing';

const DEFAULT_QUERY_URL = 'http://127.0.0.1:16686';
/** What Jaeger's query API accepts: up to 32 hex digits (the W3C trace id is exactly 32). */
const TRACE_ID = /^[0-9a-f]{1,32}$/i;

function usage(problem: string): never {
  console.error(`${problem}\nusage: npm run trace -- <trace id> [--jaeger ${DEFAULT_QUERY_URL}]`);
  process.exit(2);
}

function parse(): { traceId: string; queryUrl: string } {
  let parsed;
  try {
    parsed = parseArgs({ options: { jaeger: { type: 'string' } }, allowPositionals: true });
  } catch (err) {
    usage((err as Error).message);
  }
  const [traceId, ...extra] = parsed.positionals;
  if (traceId === undefined) usage('which trace? give its id');
  if (extra.length > 0) usage(`one trace id at a time (also got ${extra.join(' ')})`);
  if (!TRACE_ID.test(traceId)) usage(`"${traceId}" is not a trace id (up to 32 hex digits)`);
  const queryUrl = parsed.values.jaeger ?? (process.env.JAEGER_QUERY_URL?.trim() || DEFAULT_QUERY_URL);
  if (!URL.canParse(queryUrl)) usage(`"${queryUrl}" is not a URL`);
  return { traceId, queryUrl };
}

function summary(trace: JaegerTrace): string {
  const spans = trace.spans.length;
  return `trace ${trace.traceID}: ${spans} span${spans === 1 ? '' : 's'} from ${traceServices(trace).join(', ')}`;
}

const { traceId, queryUrl } = parse();
let trace: JaegerTrace | undefined;
try {
  trace = await fetchJaegerTrace(queryUrl, traceId);
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
if (trace === undefined || trace.spans.length === 0) {
  console.error(
    `no such trace: Jaeger at ${queryUrl} has no trace ${traceId}. Jaeger keeps traces in memory ` +
      '(a restart forgets them), spans arrive a few seconds after the call, and a sampled-out call has none.',
  );
  process.exit(1);
}
console.log(summary(trace));
for (const line of formatTraceTree(trace)) console.log(line);
