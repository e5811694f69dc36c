import {
  create,
  fromBinary,
  ScalarType,
  type DescField,
  type DescMessage,
  type MessageShape,
} from '@bufbuild/protobuf';
import { isWrapperDesc } from '@bufbuild/protobuf/wkt';
import { BinaryReader, getTextEncoding, WireType } from '@bufbuild/protobuf/wire';

/** Thrown inside the fast path for anything it does not handle; the caller then runs `fromBinary`. */
const BAIL: unique symbol = Symbol('bail');

type Target = Record<string, unknown> & { $unknown?: { no: number; wireType: WireType; data: Uint8Array }[] };

interface Decoding {
  readonly bytes: Uint8Array;
  /** A Buffer view of `bytes` (same memory), for the ASCII string fast path. */
  readonly text: Buffer;
  readonly reader: BinaryReader;
  depth: number;
}

type FieldReader = (d: Decoding, target: Target, wireType: WireType) => void;

interface Plan {
  readonly zero: () => Target;
  /** Field readers by field number (sparse). */
  readonly fields: ReadonlyArray<FieldReader | undefined>;
}

// The limit fromBinary applies by default; deeper input is left to it (it throws).
const RECURSION_LIMIT = 100;

const WIRE_OF: Partial<Record<ScalarType, WireType>> = {
  [ScalarType.DOUBLE]: WireType.Bit64,
  [ScalarType.FLOAT]: WireType.Bit32,
  [ScalarType.INT64]: WireType.Varint,
  [ScalarType.UINT64]: WireType.Varint,
  [ScalarType.INT32]: WireType.Varint,
  [ScalarType.FIXED64]: WireType.Bit64,
  [ScalarType.FIXED32]: WireType.Bit32,
  [ScalarType.BOOL]: WireType.Varint,
  [ScalarType.STRING]: WireType.LengthDelimited,
  [ScalarType.BYTES]: WireType.LengthDelimited,
  [ScalarType.UINT32]: WireType.Varint,
  [ScalarType.SFIXED32]: WireType.Bit32,
  [ScalarType.SFIXED64]: WireType.Bit64,
  [ScalarType.SINT32]: WireType.Varint,
  [ScalarType.SINT64]: WireType.Varint,
};

/**
 * A decoder for one message type that returns exactly what `fromBinary(schema, bytes)` returns,
 * several times faster: {@link createFastDecoder} for the well-formed common case, `fromBinary`
 * itself (the reference) for everything else. So the result and the errors are `fromBinary`'s by
 * construction; only the speed differs.
 */
export function createBinaryDecoder<Desc extends DescMessage>(
  schema: Desc,
): (bytes: Uint8Array) => MessageShape<Desc> {
  const fast = createFastDecoder(schema);
  return (bytes) => fast(bytes) ?? fromBinary(schema, bytes);
}

/**
 * The fast path alone: the message `fromBinary(schema, bytes)` would return, or `undefined` for
 * input it does not handle. The plan of each message type is worked out once from its descriptor
 * (no reflection per field), strings that are plain ASCII skip the strict UTF-8 decoder, and no
 * reflection wrappers are allocated.
 *
 * It only takes the well-formed common case: proto3 messages of scalar, enum, message and
 * repeated fields, each with the wire type its field declares. Anything else (maps, groups,
 * wrapper or Struct fields, a wire type other than the declared one, non-ASCII strings that
 * need checking, truncated input, sub-messages that overrun their length ...) is `undefined`,
 * for `fromBinary` to decode or reject; so is any input on which the wire reader throws.
 */
export function createFastDecoder<Desc extends DescMessage>(
  schema: Desc,
): (bytes: Uint8Array) => MessageShape<Desc> | undefined {
  const plans = new Map<DescMessage, Plan | null>();
  const planOf = (desc: DescMessage): Plan | null => {
    let plan = plans.get(desc);
    if (plan === undefined) {
      plans.set(desc, null); // recursive types: the lookup happens at run time, below
      plan = compile(desc, planOf);
      plans.set(desc, plan);
    }
    return plan;
  };
  return (bytes) => {
    try {
      return decodeWithPlan(planOf(schema), bytes) as MessageShape<Desc>;
    } catch {
      // BAIL, or the reader's own error on malformed input: fromBinary gives the verdict.
      return undefined;
    }
  };
}

function decodeWithPlan(plan: Plan | null, bytes: Uint8Array): Target {
  if (plan === null) throw BAIL;
  const text = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const d: Decoding = { bytes, text, reader: new BinaryReader(bytes), depth: 0 };
  const message = plan.zero();
  readMessage(d, plan, message, bytes.byteLength);
  return message;
}

function readMessage(d: Decoding, plan: Plan, target: Target, end: number): void {
  if (++d.depth > RECURSION_LIMIT) throw BAIL;
  const { reader } = d;
  let unknown: Target['$unknown'];
  const bytes = d.bytes;
  while (reader.pos < end) {
    // One- and two-byte tags (field numbers below 2048) inline; longer ones through the reader.
    let fieldNo: number;
    let wireType: WireType;
    const b0 = bytes[reader.pos]!;
    const b1 = bytes[reader.pos + 1] ?? 0x80;
    if (b0 < 0x80) {
      reader.pos += 1;
      fieldNo = b0 >>> 3;
      wireType = b0 & 7;
    } else if (b1 < 0x80) {
      reader.pos += 2;
      const tag = (b0 & 0x7f) | (b1 << 7);
      fieldNo = tag >>> 3;
      wireType = tag & 7;
    } else {
      [fieldNo, wireType] = reader.tag();
    }
    if (fieldNo === 0 || wireType > 5) throw BAIL;
    const read = plan.fields[fieldNo];
    if (read !== undefined) {
      read(d, target, wireType);
    } else {
      if (wireType === WireType.StartGroup || wireType === WireType.EndGroup) throw BAIL;
      const data = reader.skip(wireType, fieldNo);
      unknown ??= target.$unknown ?? [];
      unknown.push({ no: fieldNo, wireType, data });
    }
  }
  if (reader.pos !== end) throw BAIL;
  if (unknown !== undefined && unknown.length > 0) target.$unknown = unknown;
  d.depth--;
}

function compile(desc: DescMessage, planOf: (desc: DescMessage) => Plan | null): Plan | null {
  const template = create(desc) as unknown as Target;
  // Messages that track presence through a prototype chain (proto2, editions) are not handled.
  if (Object.getPrototypeOf(template) !== Object.prototype) return null;
  // The zero message as create() makes it: a copy of the template's own properties (same keys, same
  // order), with fresh arrays and oneof objects.
  const lists: string[] = [];
  const oneofs: string[] = [];
  for (const [key, value] of Object.entries(template)) {
    if (Array.isArray(value)) lists.push(key);
    else if (typeof value === 'object' && value !== null) {
      if (!('case' in value)) return null; // a map
      oneofs.push(key);
    }
  }
  const zero = () => {
    const message: Target = { ...template };
    for (const key of lists) message[key] = [];
    for (const key of oneofs) message[key] = { case: undefined };
    return message;
  };
  const fields: (FieldReader | undefined)[] = [];
  for (const field of desc.fields) {
    const read = fieldReader(field, planOf);
    if (read === null) return null;
    fields[field.number] = read;
  }
  return { zero, fields };
}

function fieldReader(field: DescField, planOf: (desc: DescMessage) => Plan | null): FieldReader | null {
  const set = setter(field);
  switch (field.fieldKind) {
    case 'scalar': {
      if (field.longAsString) return null;
      const { scalar, utf8Validation } = field;
      const wire = WIRE_OF[scalar];
      return (d, target, wireType) => {
        if (wireType !== wire) throw BAIL;
        set(target, readScalar(d, scalar, utf8Validation));
      };
    }
    case 'enum': {
      if (!field.enum.open) return null; // closed enums keep unknown values as unknown fields
      return (d, target, wireType) => {
        if (wireType !== WireType.Varint) throw BAIL;
        set(target, d.reader.int32());
      };
    }
    case 'message': {
      if (field.delimitedEncoding || !plainMessage(field.message)) return null;
      const sub = field.message;
      const oneof = field.oneof;
      const name = field.localName;
      return (d, target, wireType) => {
        if (wireType !== WireType.LengthDelimited) throw BAIL;
        const plan = planOf(sub);
        if (plan === null) throw BAIL;
        let existing: Target | undefined;
        if (oneof === undefined) existing = target[name] as Target | undefined;
        else {
          const group = target[oneof.localName] as { case: string | undefined; value?: Target };
          if (group.case === name) existing = group.value;
        }
        const message = existing ?? plan.zero();
        const end = lengthPrefixedEnd(d);
        readMessage(d, plan, message, end);
        if (existing === undefined) set(target, message);
      };
    }
    case 'list': {
      const name = field.localName;
      if (field.listKind === 'message') {
        if (field.delimitedEncoding || !plainMessage(field.message)) return null;
        const sub = field.message;
        return (d, target, wireType) => {
          if (wireType !== WireType.LengthDelimited) throw BAIL;
          const plan = planOf(sub);
          if (plan === null) throw BAIL;
          const message = plan.zero();
          const end = lengthPrefixedEnd(d);
          readMessage(d, plan, message, end);
          (target[name] as unknown[]).push(message);
        };
      }
      if (field.listKind === 'enum' && !field.enum.open) return null;
      if (field.listKind === 'scalar' && field.longAsString) return null;
      const scalar = field.listKind === 'scalar' ? field.scalar : ScalarType.INT32;
      const utf8 = field.listKind === 'scalar' && field.utf8Validation;
      const wire = WIRE_OF[scalar];
      const packable = scalar !== ScalarType.STRING && scalar !== ScalarType.BYTES;
      return (d, target, wireType) => {
        const list = target[name] as unknown[];
        if (packable && wireType === WireType.LengthDelimited) {
          const end = lengthPrefixedEnd(d);
          while (d.reader.pos < end) list.push(readScalar(d, scalar, utf8));
          if (d.reader.pos !== end) throw BAIL;
          return;
        }
        if (wireType !== wire) throw BAIL;
        list.push(readScalar(d, scalar, utf8));
      };
    }
    case 'map':
      return null;
  }
}

/** Message types fromBinary stores as they are (wrappers are unboxed, Struct becomes JSON). */
function plainMessage(desc: DescMessage): boolean {
  return !isWrapperDesc(desc) && desc.typeName !== 'google.protobuf.Struct';
}

function setter(field: DescField): (target: Target, value: unknown) => void {
  const name = field.localName;
  const oneof = field.oneof?.localName;
  if (oneof === undefined) return (target, value) => void (target[name] = value);
  return (target, value) => void (target[oneof] = { case: name, value });
}

/** Reads a length prefix; returns where the length-delimited value ends (BAIL when past the input). */
function lengthPrefixedEnd(d: Decoding): number {
  const { reader } = d;
  const b = d.bytes[reader.pos]!;
  let length: number;
  if (b < 0x80) {
    reader.pos += 1;
    length = b;
  } else {
    length = reader.uint32();
  }
  const end = reader.pos + length;
  if (end > reader.len) throw BAIL;
  return end;
}

// Node's Buffer has it (toString('latin1') calls it after argument checks); not in @types/node.
type LatinSliceable = Buffer & { latin1Slice(start: number, end: number): string };

function readScalar(d: Decoding, type: ScalarType, utf8Validation: boolean): unknown {
  const { reader } = d;
  switch (type) {
    case ScalarType.STRING: {
      const end = lengthPrefixedEnd(d);
      const start = reader.pos;
      reader.pos = end;
      const bytes = d.bytes;
      for (let i = start; i < end; i++) {
        if (bytes[i]! > 0x7f) return getTextEncoding().decodeUtf8(bytes.subarray(start, end), utf8Validation);
      }
      return (d.text as LatinSliceable).latin1Slice(start, end);
    }
    case ScalarType.BOOL:
      return reader.bool();
    case ScalarType.DOUBLE:
      return reader.double();
    case ScalarType.FLOAT:
      return reader.float();
    case ScalarType.INT32:
      return reader.int32();
    case ScalarType.INT64:
      return reader.int64();
    case ScalarType.UINT64:
      return reader.uint64();
    case ScalarType.FIXED64:
      return reader.fixed64();
    case ScalarType.BYTES:
      return reader.bytes();
    case ScalarType.FIXED32:
      return reader.fixed32();
    case ScalarType.SFIXED32:
      return reader.sfixed32();
    case ScalarType.SFIXED64:
      return reader.sfixed64();
    case ScalarType.SINT64:
      return reader.sint64();
    case ScalarType.UINT32:
      return reader.uint32();
    case ScalarType.SINT32:
      return reader.sint32();
  }
}
