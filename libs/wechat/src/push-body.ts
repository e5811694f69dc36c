import { ENTITY_ACTION, EntityDecoder } from '@nodable/entities';
import { XMLParser } from 'fast-xml-parser';
import { SyntaxValidator } from 'fast-xml-validator';
import { parse as parseLosslessJson } from 'lossless-json';

/**
 * A push body's fields, flat: the children of `<xml>` or the members of the JSON object.
 * Leaves are strings (JSON booleans and null stay as they are); a repeated XML element becomes an
 * array and a nested one an object, so `SubscribeMsgPopupEvent.List` is an object when WeChat
 * sends one template and an array when it sends several.
 */
export type PushFields = Record<string, unknown>;

/**
 * The body is not a WeChat push: not well-formed XML or JSON, a root other than `<xml>`, a JSON
 * value that is not an object, or a DOCTYPE/ENTITY declaration. The message names the fault and
 * where, never the body's content.
 */
export class PushFormatError extends Error {
  override readonly name = 'PushFormatError';
}

/** WeChat's pushes are a few levels deep; anything deeper is not one of them. */
const MAX_DEPTH = 16;
const DECLARATION = /<!\s*(DOCTYPE|ENTITY)/i;
const ELEMENT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
// Characters XML 1.0 does not allow anywhere, CDATA included.
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

const xmlParser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Every value stays the text WeChat sent: MsgId is a 64-bit integer that a number would round.
  parseTagValue: false,
  // Trims text between and around elements; CDATA content is kept byte for byte.
  trimValues: true,
  maxNestedTags: MAX_DEPTH,
  // The five XML entities and character references only: DOCTYPE entities are refused twice,
  // once by the declaration check before parsing and again here.
  entityDecoder: new EntityDecoder({ onInputEntity: () => ENTITY_ACTION.THROW }),
  onDangerousProperty: () => {
    throw new PushFormatError('push body: an element is named after a JavaScript built-in');
  },
});

/**
 * Parses a push body (plain-mode push, or the inner message of a safe-mode push after
 * `MessageCrypt.open`) into its fields. `format` is the data format configured for the push URL.
 *
 * XML must be one `<xml>` root holding elements; JSON must be an object. Values are never
 * coerced: XML text and CDATA come back as strings, JSON numbers as their literal digits, so a
 * 64-bit MsgId survives either way. DOCTYPE/ENTITY declarations are refused outright, which
 * rules out entity-expansion blow-ups. Throws {@link PushFormatError}; the caller answers the
 * push with a client error rather than retrying.
 */
export function parsePushBody(body: string, format: 'xml' | 'json'): PushFields {
  if (typeof body !== 'string') throw new PushFormatError('push body: must be text');
  return format === 'json' ? parseJsonBody(body) : parseXmlBody(body);
}

function parseXmlBody(body: string): PushFields {
  if (DECLARATION.test(body)) {
    throw new PushFormatError('push body: DOCTYPE and ENTITY declarations are refused');
  }
  checkWellFormed(body);
  let document: unknown;
  try {
    document = xmlParser.parse(body);
  } catch (err) {
    if (err instanceof PushFormatError) throw err;
    throw new PushFormatError('push body: the XML could not be parsed');
  }
  const root = isRecord(document) && Object.keys(document).length === 1 ? document.xml : undefined;
  if (root === undefined || Array.isArray(root)) {
    throw new PushFormatError('push body: the document must have exactly one root, <xml>');
  }
  if (root === '') return {};
  if (!isRecord(root) || '#text' in root) {
    throw new PushFormatError('push body: <xml> must hold elements, not text');
  }
  return root;
}

function checkWellFormed(body: string): void {
  try {
    SyntaxValidator.validate(body);
  } catch (err) {
    const where = err as { code?: unknown; line?: unknown; col?: unknown };
    const at = typeof where.line === 'number' ? ` at line ${where.line}, column ${String(where.col)}` : '';
    const code = typeof where.code === 'string' ? where.code : 'invalid';
    throw new PushFormatError(`push body: not well-formed XML (${code}${at})`);
  }
}

function parseJsonBody(body: string): PushFields {
  let value: unknown;
  try {
    value = parseLosslessJson(body, null, (digits) => digits);
  } catch {
    throw new PushFormatError('push body: not valid JSON (or a key appears twice)');
  }
  if (!isRecord(value)) throw new PushFormatError('push body: the JSON must be an object');
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Renders flat fields as WeChat's XML, in the object's key order: strings as CDATA (a `]]>`
 * inside is split across two sections), numbers bare. Used for passive replies and for the
 * safe-mode envelope. Throws RangeError on a key that is not an element name, a non-finite
 * number, or a character XML cannot carry.
 */
export function renderPushXml(fields: Record<string, string | number>): string {
  const elements = Object.entries(fields).map(([name, value]) => {
    if (!ELEMENT_NAME.test(name)) {
      throw new RangeError(`renderPushXml: "${name}" is not an XML element name`);
    }
    return `<${name}>${renderValue(name, value)}</${name}>`;
  });
  return `<xml>${elements.join('')}</xml>`;
}

function renderValue(name: string, value: string | number): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`renderPushXml: ${name} must be a finite number`);
    return String(value);
  }
  if (typeof value !== 'string') {
    throw new RangeError(`renderPushXml: ${name} must be a string or a number`);
  }
  if (NOT_XML_CHAR.test(value)) {
    throw new RangeError(`renderPushXml: ${name} holds a control character XML cannot carry`);
  }
  return `<![CDATA[${value.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}
