/**
 * The DC-09 protocol core: pure functions from bytes to values and back. No sockets, no clock
 * (time is passed in), no logging.
 */
export { crc16 } from './crc.js'
export { ErrorCode, REPLY_FOR, type Failure, type Reply } from './errors.js'
export {
  aesEngine, aesJs, nodeAes, parseKey,
  type AesEngine, type AesEngineName, type AesKey, type KeyFormat, type ParsedKey,
} from './cipher.js'
export {
  DEFAULT_WINDOW, TIMESTAMP_LENGTH, formatTimestamp, inWindow, isTimeZone, panelTimeToUtc, readTimestamp,
  type PanelClock, type TimestampWindow,
} from './timestamp.js'
export type { Err, Ok, Result } from '../result.js'
export {
  MAX_BODY_BYTES, reject,
  type ContentResult, type CrcForm, type FrameContent, type FrameFields, type FrameHeader, type FrameResult,
  type Quirk, type RawFrame, type Rejection, type SerializeOptions, type XData,
} from './frame.js'
export { openPayload, parseFrame, readContent, readHeader } from './frame-parse.js'
export { padLength, randomPad, serializeFrame } from './frame-build.js'
export { FRAME_OVERHEAD, FrameSplitter, splitAll, wholeFrame, type SplitterOptions, type SplitterSink, type WholeFrame } from './splitter.js'
export {
  EVENT_TOKENS, decodeFrame, openFrame,
  type AccountProfile, type DecodeLimits, type DecodeOptions, type DecodeResult, type DecodedEvent, type DecodedFrame, type DecodedXData,
} from './decode.js'
export { serializeAck, serializeDuh, serializeEncryptedAck, serializeNak, serializeRejection, type AckOptions } from './responses.js'
export { contactIdEvent, formatContactId, parseContactId, type ContactIdEvent, type ContactIdFields, type QualifierMeaning } from './contact-id.js'
export { MAX_SIA_EVENTS, formatSia, parseSia, siaEvent, type SiaBlock, type SiaBlockFields, type SiaEvent, type SiaEventFields, type SiaEventParts, type SiaModifiers } from './sia-dcs.js'
export { decodeText, encodeText, isCharset, type Charset } from './text.js'
export {
  CONTACT_ID_CODE_COUNT, CONTACT_ID_QUALIFIERS, SIA_CODE_COUNT, contactIdCode, contactIdEventClass, siaCode,
  type ContactIdCode, type EventClass, type SiaCode,
} from './codes/index.js'
export { checkAnswer, type CheckedAnswer } from './answer.js'
