// The part of the one Yjs bundle (static/vendor/yjs.mjs: yjs 13.6, y-protocols 1.0, lib0 0.2)
// the notes modules use. Hand-written so tsc never reads the bundle; widen it as needed.

export namespace Y {
  interface Transaction {
    readonly origin: unknown;
    readonly local: boolean;
  }

  type DeltaOp = { retain?: number; insert?: string; delete?: number };

  interface YTextEvent {
    readonly delta: DeltaOp[];
    readonly transaction: Transaction;
  }

  class Doc {
    readonly clientID: number;
    getMap<T = unknown>(name?: string): Map<T>;
    getText(name?: string): Text;
    transact(f: (tr: Transaction) => void, origin?: unknown): void;
    on(event: 'update', f: (update: Uint8Array, origin: unknown, doc: Doc) => void): void;
    off(event: 'update', f: (update: Uint8Array, origin: unknown, doc: Doc) => void): void;
    destroy(): void;
  }

  class Map<T = unknown> {
    get(key: string): T | undefined;
    has(key: string): boolean;
    keys(): IterableIterator<string>;
  }

  class Text {
    readonly length: number;
    readonly doc: Doc | null;
    insert(index: number, text: string): void;
    delete(index: number, length: number): void;
    toString(): string;
    observe(f: (event: YTextEvent, tr: Transaction) => void): void;
    unobserve(f: (event: YTextEvent, tr: Transaction) => void): void;
  }

  /** A position anchored to the characters around it (opaque here). */
  class RelativePosition {
    private constructor();
  }

  interface AbsolutePosition {
    readonly type: unknown;
    readonly index: number;
    readonly assoc: number;
  }

  function createRelativePositionFromTypeIndex(type: Text, index: number, assoc?: number): RelativePosition;
  function createAbsolutePositionFromRelativePosition(rpos: RelativePosition, doc: Doc): AbsolutePosition | null;
  function relativePositionToJSON(rpos: RelativePosition): object;
  function createRelativePositionFromJSON(json: unknown): RelativePosition;
}

export namespace encoding {
  class Encoder {
    private constructor();
  }
  function createEncoder(): Encoder;
  function length(encoder: Encoder): number;
  function toUint8Array(encoder: Encoder): Uint8Array;
  function writeVarUint(encoder: Encoder, n: number): void;
  function writeVarUint8Array(encoder: Encoder, data: Uint8Array): void;
}

export namespace decoding {
  class Decoder {
    private constructor();
  }
  function createDecoder(data: Uint8Array): Decoder;
  function readVarUint(decoder: Decoder): number;
  function readVarUint8Array(decoder: Decoder): Uint8Array;
}

export namespace syncProtocol {
  const messageYjsSyncStep1: 0;
  const messageYjsSyncStep2: 1;
  const messageYjsUpdate: 2;
  function writeSyncStep1(encoder: encoding.Encoder, doc: Y.Doc): void;
  function writeUpdate(encoder: encoding.Encoder, update: Uint8Array): void;
  function readSyncMessage(decoder: decoding.Decoder, encoder: encoding.Encoder, doc: Y.Doc, origin: unknown): number;
}

export namespace awarenessProtocol {
  type State = Record<string, any>;
  interface Change {
    added: number[];
    updated: number[];
    removed: number[];
  }

  class Awareness {
    constructor(doc: Y.Doc);
    readonly doc: Y.Doc;
    readonly clientID: number;
    getLocalState(): State | null;
    setLocalState(state: State | null): void;
    setLocalStateField(field: string, value: unknown): void;
    getStates(): Map<number, State>;
    on(event: 'change' | 'update', f: (change: Change, origin: unknown) => void): void;
    off(event: 'change' | 'update', f: (change: Change, origin: unknown) => void): void;
    destroy(): void;
  }

  function encodeAwarenessUpdate(awareness: Awareness, clients: number[]): Uint8Array;
  function applyAwarenessUpdate(awareness: Awareness, update: Uint8Array, origin: unknown): void;
}
