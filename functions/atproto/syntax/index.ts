export { isValidDid } from './did.ts';
export { isValidHandle } from './handle.ts';
export { isValidNsid } from './nsid.ts';
export { isValidRecordKey } from './record-key.ts';
export { isValidTid } from './tid.ts';
export { isValidDatetime, normalizeDatetime } from './datetime.ts';
export { isValidAtUri } from './at-uri.ts';
