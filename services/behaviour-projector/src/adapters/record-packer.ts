/**
 * Packs one flat MessagePack array of strings and non-negative integers: the only two types the
 * apply scripts' `cmsgpack.unpack` reads from a chunk.
 *
 * Hand-written on purpose. `@msgpack/msgpack`'s general encoder measures every string in a JS
 * pass (`utf8Count`) and then encodes it in a second one; in the projector that was ~11% of the
 * process's CPU, more than the Kafka client's own decoding. Here an ASCII string, which is nearly
 * every value a chunk carries (ids, openids, timestamps), is one copy loop straight into the
 * buffer, with its header known from its length; anything else goes through `Buffer.write`.
 * The result is checked against `@msgpack/msgpack`'s decoder in record-packer.spec.ts.
 */
export class RecordPacker {
  private buf = Buffer.allocUnsafe(64 * 1024);
  // The array header is written last, as array32 (0xdd + uint32): valid for any count.
  private pos = 5;
  private count = 0;

  /** Appends a string (any Unicode; lone surrogates become U+FFFD, as `Buffer.write` does). */
  str(s: string): void {
    const len = s.length;
    this.reserve(5 + 3 * len);
    const buf = this.buf;
    const start = this.pos;
    let p = start + headerSize(len);
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.strUtf8(s, start);
        return;
      }
      buf[p++] = c;
    }
    writeStrHeader(buf, start, len);
    this.pos = p;
    this.count++;
  }

  /** Appends a non-negative safe integer. */
  int(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0)
      throw new RangeError(`RecordPacker.int: ${n} is not a non-negative safe integer`);
    this.reserve(9);
    const buf = this.buf;
    let p = this.pos;
    if (n < 0x80) buf[p++] = n;
    else if (n < 0x100) {
      buf[p++] = 0xcc;
      buf[p++] = n;
    } else if (n < 0x10000) {
      buf[p++] = 0xcd;
      p = buf.writeUInt16BE(n, p);
    } else if (n < 0x1_0000_0000) {
      buf[p++] = 0xce;
      p = buf.writeUInt32BE(n, p);
    } else {
      buf[p++] = 0xcf;
      p = buf.writeUInt32BE(Math.floor(n / 0x1_0000_0000), p);
      p = buf.writeUInt32BE(n % 0x1_0000_0000, p);
    }
    this.pos = p;
    this.count++;
  }

  /** The array packed so far, as a new Buffer; the packer is then empty again. */
  finish(): Buffer {
    const buf = this.buf;
    buf[0] = 0xdd;
    buf.writeUInt32BE(this.count, 1);
    const packed = Buffer.from(buf.subarray(0, this.pos)); // a copy: the pipeline may still hold it
    this.pos = 5;
    this.count = 0;
    return packed;
  }

  private strUtf8(s: string, start: number): void {
    const bytes = Buffer.byteLength(s, 'utf8');
    this.reserve(5 + bytes);
    const p = start + headerSize(bytes);
    writeStrHeader(this.buf, start, bytes);
    this.pos = p + this.buf.write(s, p, 'utf8');
    this.count++;
  }

  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
}

function headerSize(bytes: number): number {
  return bytes < 32 ? 1 : bytes < 0x100 ? 2 : bytes < 0x10000 ? 3 : 5;
}

function writeStrHeader(buf: Buffer, at: number, bytes: number): void {
  if (bytes < 32) buf[at] = 0xa0 | bytes;
  else if (bytes < 0x100) {
    buf[at] = 0xd9;
    buf[at + 1] = bytes;
  } else if (bytes < 0x10000) {
    buf[at] = 0xda;
    buf.writeUInt16BE(bytes, at + 1);
  } else {
    buf[at] = 0xdb;
    buf.writeUInt32BE(bytes, at + 1);
  }
}
