// A minimal BER walker for the one untrusted structure read on every Apple
// check-in (the Mdm-Signature CMS, ../detached-signature.ts): offsets into
// the received buffer, no tree of objects, no copies. Unlike ./der-reader.ts
// it accepts what BER allows and devices send (indefinite lengths on
// constructed values, non-minimal lengths), because CMS encoders such as
// Apple's stream their output. It is bounded the same way asn1js is bounded
// for SCEP (./limits.ts): nesting depth and the number of elements visited,
// so a crafted header cannot cost more than a real one.
//
// Why not asn1js + pkijs here: building their schema objects for a SignedData
// and its certificate cost about 8.5 ms of CPU per check-in; the walk costs
// a few microseconds and the signature check itself well under 0.1 ms.

import { DerError } from './der-error.js';

export interface BerTlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content (before the end-of-contents octets of an indefinite length). */
  contentEnd: number;
  /** Offset just past the whole value. */
  end: number;
}

export interface BerWalkLimits {
  maxDepth: number;
  maxNodes: number;
}

/** One walk over one buffer: counts every element it reads against `limits`. */
export class BerWalker {
  private nodes = 0;

  constructor(
    readonly buf: Uint8Array,
    private readonly limits: BerWalkLimits,
  ) {}

  /** The whole buffer as exactly one value (no trailing bytes). */
  top(): BerTlv {
    const t = this.read(0, this.buf.length, 0);
    if (t.end !== this.buf.length) throw new DerError('trailing bytes after BER value');
    return t;
  }

  /** Reads one TLV at `offset`, bounds-checked against `limit`. */
  read(offset: number, limit: number, depth: number): BerTlv {
    if (++this.nodes > this.limits.maxNodes) throw new DerError(`Maximum ASN.1 node count exceeded (${this.limits.maxNodes})`);
    if (depth > this.limits.maxDepth) throw new DerError(`Maximum ASN.1 nesting depth exceeded (${this.limits.maxDepth})`);
    const buf = this.buf;
    if (offset + 2 > limit) throw new DerError('truncated BER');
    const tag = buf[offset]!;
    if ((tag & 0x1f) === 0x1f) throw new DerError('high-tag-number form not supported');
    let pos = offset + 1;
    const first = buf[pos++]!;
    if (first === 0x80) {
      if ((tag & 0x20) === 0) throw new DerError('indefinite length on a primitive value');
      // Indefinite: the content runs to the end-of-contents octets (00 00) at this level.
      for (let off = pos; ; ) {
        if (off + 2 > limit) throw new DerError('indefinite length without end-of-contents');
        if (buf[off] === 0 && buf[off + 1] === 0) return { tag, start: offset, contentStart: pos, contentEnd: off, end: off + 2 };
        off = this.read(off, limit, depth + 1).end;
      }
    }
    let len = first;
    if (first > 0x80) {
      const n = first & 0x7f;
      if (n > 4) throw new DerError('BER length too large');
      if (pos + n > limit) throw new DerError('truncated BER length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[pos++]!;
    }
    const end = pos + len;
    if (end > limit) throw new DerError('truncated BER content');
    return { tag, start: offset, contentStart: pos, contentEnd: end, end };
  }

  /** The elements inside a constructed value. */
  children(parent: BerTlv, depth: number): BerTlv[] {
    if ((parent.tag & 0x20) === 0) throw new DerError('expected a constructed value');
    const out: BerTlv[] = [];
    for (let off = parent.contentStart; off < parent.contentEnd; ) {
      const t = this.read(off, parent.contentEnd, depth + 1);
      out.push(t);
      off = t.end;
    }
    return out;
  }

  raw(t: BerTlv): Uint8Array {
    return this.buf.subarray(t.start, t.end);
  }

  content(t: BerTlv): Uint8Array {
    return this.buf.subarray(t.contentStart, t.contentEnd);
  }
}
