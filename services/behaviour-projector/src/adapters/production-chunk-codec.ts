// The chunk codec the store uses unless it is given another: the fast path, positional records
// (see fast/positional-chunk-codec.ts; its reference is chunk-codec.ts's namedFieldsCodec).
export { positionalChunkCodec as productionChunkCodec } from './fast/positional-chunk-codec.js';
