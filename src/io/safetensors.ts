/**
 * Safetensors, read and written by hand: the public API. The code lives by concept in
 * safetensors-format.ts (dtypes, byte order), safetensors-read.ts (the reader),
 * safetensors-write.ts (the writer), safetensors-file.ts (files on disk, Node only), json-strict.ts (the strict JSON parser of the header) and
 * half.ts (f16/bf16 conversion).
 *
 * The format: an 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON (possibly
 * padded with trailing spaces), then the data section. Every header key except `__metadata__`
 * names a tensor `{"dtype","shape","data_offsets":[begin,end]}` whose raw little-endian,
 * row-major bytes sit at `[begin, end)` of the data section; `__metadata__` maps strings to
 * strings.
 *
 * Files come from strangers, so the reader is written against hostile input: it never throws
 * (every failure is a `Left` naming the file and the field), it checks the claimed header length
 * against the bytes actually present before it decodes or allocates anything, it parses the JSON
 * with its own strict parser (duplicate keys are an error rather than "last one wins", objects
 * become `Map`s so a key like `__proto__` is just a string), and it checks the layout the way the
 * reference implementation does: every tensor's byte length is numel × itemsize, and the tensors
 * tile the data section exactly, without overlaps, gaps or trailing bytes. Every allocation is
 * therefore bounded by a small multiple of the input's size (widening U8 to int32 is the worst,
 * at 4×). Returned typed arrays are fresh, aligned copies: the source bytes may sit at any
 * offset, and callers may keep the tensors after dropping the file.
 */
export {
  type StDtype,
  loadedDtype,
  stDtypes,
  stItemsize,
  swapBytesInPlace,
  writableDtypes,
} from './safetensors-format.js';
export { type SafetensorsFile, decodeSafetensors } from './safetensors-read.js';
export { type StWriteEntry, encodeSafetensors, tryEncodeSafetensors } from './safetensors-write.js';
export { readSafetensors, writeSafetensors } from './safetensors-file.js';
