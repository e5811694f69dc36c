import type { JaegerSpan, JaegerTag, JaegerTrace } from './jaeger-trace.js';

/** Columns of one tree: where times start and how wide they are, so every line aligns. */
interface Layout {
  readonly trace: JaegerTrace;
  readonly spans: ReadonlyMap<string, JaegerSpan>;
  readonly traceStart: number;
  readonly offsetWidth: number;
  readonly durationWidth: number;
}

/**
 * The lines of a trace as an indented span tree, for a terminal: each span as
 * `<offset from the trace's start> <duration> <service> <operation>` with a `✗ error` marker when
 * its status is an error, then its `wechat.*` attributes, its links (`follows from …`), and, for
 * a span whose parent is not in the trace (lost, or not exported yet), that parent's id. Children
 * sit under their parent (`CHILD_OF`); spans without a parent in the trace are roots; siblings
 * and roots go in order of start time. Pure: the same trace always gives the same lines.
 */
export function formatTraceTree(trace: JaegerTrace): string[] {
  const spans = firstOfEachId(trace.spans);
  const { roots, children } = arrange(spans);
  let traceStart = Infinity;
  for (const span of spans.values()) traceStart = Math.min(traceStart, span.startTime);
  const layout: Layout = {
    trace,
    spans,
    traceStart,
    offsetWidth: widest(spans, (span) => ms(span.startTime - traceStart)),
    durationWidth: widest(spans, (span) => ms(span.duration)),
  };
  const lines: string[] = [];
  const shown = new Set<string>();
  const show = (span: JaegerSpan, depth: number) => {
    if (shown.has(span.spanID)) return;
    shown.add(span.spanID);
    lines.push(...spanLines(span, depth, layout));
    for (const child of byStart(children.get(span.spanID) ?? [])) show(child, depth + 1);
  };
  for (const root of byStart(roots)) show(root, 0);
  // Only a parent cycle (corrupt data) leaves spans unshown: list them as roots rather than drop them.
  for (const span of byStart([...spans.values()])) show(span, 0);
  return lines;
}

/** Jaeger can return a span twice (a shared client/server id from Zipkin): the first one counts. */
function firstOfEachId(spans: readonly JaegerSpan[]): Map<string, JaegerSpan> {
  const byId = new Map<string, JaegerSpan>();
  for (const span of spans) if (!byId.has(span.spanID)) byId.set(span.spanID, span);
  return byId;
}

function arrange(spans: ReadonlyMap<string, JaegerSpan>) {
  const roots: JaegerSpan[] = [];
  const children = new Map<string, JaegerSpan[]>();
  for (const span of spans.values()) {
    const parentId = parentIdOf(span);
    if (parentId === undefined || parentId === span.spanID || !spans.has(parentId)) {
      roots.push(span);
      continue;
    }
    const siblings = children.get(parentId) ?? [];
    siblings.push(span);
    children.set(parentId, siblings);
  }
  return { roots, children };
}

function parentIdOf(span: JaegerSpan): string | undefined {
  return span.references.find((ref) => ref.refType === 'CHILD_OF' && ref.traceID === span.traceID)?.spanID;
}

function byStart(spans: readonly JaegerSpan[]): JaegerSpan[] {
  return [...spans].sort((a, b) => a.startTime - b.startTime || a.spanID.localeCompare(b.spanID));
}

function widest(spans: ReadonlyMap<string, JaegerSpan>, text: (span: JaegerSpan) => string): number {
  let width = 0;
  for (const span of spans.values()) width = Math.max(width, text(span).length);
  return width;
}

/** Microseconds as milliseconds with two decimals: `12.50 ms`. */
function ms(micros: number): string {
  return `${(micros / 1000).toFixed(2)} ms`;
}

function spanLines(span: JaegerSpan, depth: number, layout: Layout): string[] {
  const offset = ms(span.startTime - layout.traceStart).padStart(layout.offsetWidth);
  const duration = ms(span.duration).padStart(layout.durationWidth);
  const indent = '  '.repeat(depth);
  const head = `${offset}  ${duration}  ${indent}${serviceOf(span, layout.trace)} ${span.operationName}`;
  const error = errorMarker(span.tags);
  const detail = ' '.repeat(layout.offsetWidth + layout.durationWidth + 4) + indent + '  ';
  return [
    error ? `${head}  ${error}` : head,
    ...missingParent(span, layout).map((line) => detail + line),
    ...links(span, layout).map((line) => detail + line),
    ...wechatAttributes(span.tags).map((line) => detail + line),
  ];
}

function serviceOf(span: JaegerSpan, trace: JaegerTrace): string {
  return trace.processes[span.processID]?.serviceName ?? `(process ${span.processID})`;
}

/** `✗ error` (with the status description) when the span's status is an error. */
function errorMarker(tags: readonly JaegerTag[]): string | undefined {
  const tag = (key: string) => tags.find((t) => t.key === key)?.value;
  const failed = tag('error') === true || tag('error') === 'true' || tag('otel.status_code') === 'ERROR';
  if (!failed) return undefined;
  const description = tag('otel.status_description');
  return description ? `✗ error: ${String(description)}` : '✗ error';
}

function missingParent(span: JaegerSpan, layout: Layout): string[] {
  const parentId = parentIdOf(span);
  if (parentId === undefined || layout.spans.has(parentId)) return [];
  return [`parent span ${parentId} is not in this trace`];
}

/** OTel links, which Jaeger returns as `FOLLOWS_FROM` references. */
function links(span: JaegerSpan, layout: Layout): string[] {
  return span.references
    .filter((ref) => ref.refType === 'FOLLOWS_FROM')
    .map((ref) => {
      const target = ref.traceID === span.traceID ? layout.spans.get(ref.spanID) : undefined;
      if (target === undefined) return `follows from span ${ref.spanID} of trace ${ref.traceID}`;
      return `follows from ${serviceOf(target, layout.trace)} ${target.operationName} (span ${ref.spanID})`;
    });
}

/** The span's `wechat.*` attributes on one line, sorted by key; none gives no line. */
function wechatAttributes(tags: readonly JaegerTag[]): string[] {
  const wechat = tags
    .filter((tag) => tag.key.startsWith('wechat.'))
    .sort((a, b) => a.key.localeCompare(b.key))
    .map((tag) => `${tag.key}=${typeof tag.value === 'string' ? tag.value : JSON.stringify(tag.value)}`);
  return wechat.length > 0 ? [wechat.join(' ')] : [];
}
