/**
 * Turns a byte stream in any chunking into whole frames (LF ... CR), as TCP delivers it:
 * several frames in one chunk, a frame split at any byte, noise between frames, trailing NUL
 * bytes after a CR, a missing CR (PROTOCOL.md §1 deviations, §8). The length field says where a
 * frame ends; the CR is then checked, and a frame without it is dropped and the stream
 * resynchronised on the next LF. Sizes are checked before anything is buffered (STYLE rule 2).
 */
import { CR, LF, readHex } from './bytes.js'
import { ErrorCode } from './errors.js'
import { lengthFieldOffset, MAX_BODY_BYTES, parseFrame, reject, type Rejection } from './frame.js'

/** LF, 4 CRC characters, 4 length characters ... CR: bytes around the body in the hex form. */
export const FRAME_OVERHEAD = 10

export interface SplitterOptions {
  /** Largest body (quote to CR) a length field may declare. The protocol's own cap is 0xFFF (§1). */
  readonly maxBodyBytes?: number
  /** Most bytes held for one unfinished frame between chunks. */
  readonly maxBufferedBytes?: number
}

export interface SplitterSink {
  /** A whole frame, LF through CR. It may share memory with the pushed chunk. */
  frame (bytes: Buffer): void
  /**
   * Bytes that were dropped, with why: `DC09_ERR_NOISE` (no frame there; reported once per run,
   * when the next frame starts or the run passes the buffer cap), `DC09_ERR_FRAMING` (a header
   * without its CR), `DC09_ERR_FRAME_TOO_LARGE`, `DC09_ERR_BUFFER_LIMIT`.
   */
  error (code: ErrorCode, reason: string, dropped: number): void
}

export class FrameSplitter {
  readonly #sink: SplitterSink
  readonly #maxBody: number
  readonly #maxBuffered: number
  /** Chunks of an unfinished frame; `#held` bytes in all, `#need` bytes to complete it (0: unknown yet). */
  #parts: Buffer[] = []
  #held = 0
  #need = 0
  /** Noise bytes seen since the last report. */
  #noise = 0

  constructor (sink: SplitterSink, opts: SplitterOptions = {}) {
    this.#sink = sink
    this.#maxBody = Math.min(opts.maxBodyBytes ?? MAX_BODY_BYTES, MAX_BODY_BYTES)
    this.#maxBuffered = opts.maxBufferedBytes ?? this.#maxBody + FRAME_OVERHEAD
  }

  /** Bytes held for an unfinished frame (the receiver times out slow senders on this). */
  get buffered (): number {
    return this.#held
  }

  push (chunk: Buffer): void {
    let data = chunk
    if (this.#held > 0) {
      this.#parts.push(chunk)
      this.#held += chunk.length
      // Wait without copying until the frame whose length is known is complete.
      if (this.#need > 0 && this.#held < this.#need) {
        if (this.#held > this.#maxBuffered) this.#overflow()
        return
      }
      data = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#held)
      this.#parts = []
      this.#held = 0
      this.#need = 0
    }
    this.#scan(data)
  }

  /** Drops whatever is held and reports unreported noise (connection end). */
  end (): void {
    if (this.#held > 0) this.#sink.error(ErrorCode.FRAMING, 'the stream ended inside a frame', this.#held)
    this.#parts = []
    this.#held = 0
    this.#need = 0
    this.#flushNoise()
  }

  #scan (data: Buffer): void {
    const end = data.length
    let pos = 0
    while (pos < end) {
      const lf = data.indexOf(LF, pos)
      if (lf < 0) {
        this.#countNoise(data, pos, end)
        return
      }
      this.#countNoise(data, pos, lf)
      const h = lengthFieldOffset(data, lf, end)
      if (h === -2) return this.#hold(data, lf, 0)
      if (h === -1) {
        // An LF that starts no header: keep scanning; what follows it is counted as noise.
        pos = lf + 1
        continue
      }
      const body = readHex(data, h + 1, 3)
      if (body > this.#maxBody) {
        this.#flushNoise()
        this.#sink.error(ErrorCode.FRAME_TOO_LARGE, `the length field declares ${body} bytes, over the cap of ${this.#maxBody}`, 1)
        pos = lf + 1
        continue
      }
      const total = h - lf + 4 + body + 1
      let cr = lf + total - 1
      // Eldes counts the CR in the length: its frame is one byte shorter than declared. A body
      // never ends in CR otherwise, so a CR just before the expected end marks that form.
      if (cr >= end || data[cr] !== CR) {
        if (cr - 1 < end && data[cr - 1] === CR) cr--
        else if (cr >= end) return this.#hold(data, lf, total - 1)
      }
      this.#flushNoise()
      if (data[cr] !== CR) {
        // Missing CR: drop this start and resynchronise on the next LF (§8).
        this.#sink.error(ErrorCode.FRAMING, 'no CR where the length field says the frame ends', 1)
        pos = lf + 1
        continue
      }
      this.#sink.frame(data.subarray(lf, cr + 1))
      pos = cr + 1
    }
  }

  /** Keeps `data[from..]` (a copy, so the chunk can be freed) until `need` bytes are there. */
  #hold (data: Buffer, from: number, need: number): void {
    const rest = Buffer.from(data.subarray(from))
    this.#parts = [rest]
    this.#held = rest.length
    this.#need = need
    if (this.#held > this.#maxBuffered) this.#overflow()
  }

  #overflow (): void {
    this.#flushNoise()
    this.#sink.error(ErrorCode.BUFFER_LIMIT, `more than ${this.#maxBuffered} bytes buffered for one frame`, this.#held)
    this.#parts = []
    this.#held = 0
    this.#need = 0
  }

  /** Counts noise in `data[from, to)`; NUL, CR, LF, tab and space between frames are benign. */
  #countNoise (data: Buffer, from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const b = data[i]!
      if (b !== 0 && b !== CR && b !== LF && b !== 0x20 && b !== 0x09) this.#noise++
    }
    if (this.#noise > this.#maxBuffered) this.#flushNoise()
  }

  #flushNoise (): void {
    if (this.#noise === 0) return
    const n = this.#noise
    this.#noise = 0
    this.#sink.error(ErrorCode.NOISE, `${n} bytes outside any frame`, n)
  }
}

/**
 * Splits a whole buffer (a UDP datagram, a line of text) like a stream that then ends. Returns
 * the frames and the errors in the order they occurred.
 */
export function splitAll (bytes: Buffer, opts?: SplitterOptions): Array<{ frame: Buffer } | { code: ErrorCode, reason: string, dropped: number }> {
  const out: Array<{ frame: Buffer } | { code: ErrorCode, reason: string, dropped: number }> = []
  const s = new FrameSplitter({
    frame: (frame) => { out.push({ frame }) },
    error: (code, reason, dropped) => { out.push({ code, reason, dropped }) },
  }, opts)
  s.push(bytes)
  s.end()
  return out
}

export type WholeFrame = { readonly ok: true, readonly frame: Buffer } | Rejection

/**
 * The one frame in a datagram (UDP carries one frame per datagram, §8) or a line of text.
 * Trailing NULs are dropped. When the bytes are not exactly one frame but do run from LF to CR,
 * the frame parser says precisely what is wrong (length, CRC) instead of the splitter's
 * "no CR where the length says".
 */
export function wholeFrame (bytes: Buffer, opts?: SplitterOptions): WholeFrame {
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0) end--
  const items = splitAll(bytes.subarray(0, end), opts)
  const first = items[0]
  if (items.length === 1 && first !== undefined && 'frame' in first) return { ok: true, frame: first.frame }
  if (items.some((i) => 'frame' in i)) {
    return reject(ErrorCode.FRAMING, 'more than one frame, or bytes around the frame, where one frame was expected')
  }
  if (bytes[0] === LF && bytes[end - 1] === CR && end <= (opts?.maxBodyBytes ?? MAX_BODY_BYTES) + FRAME_OVERHEAD) {
    const parsed = parseFrame(bytes.subarray(0, end))
    if (!parsed.ok) return parsed
  }
  const err = items[0]
  return err !== undefined && !('frame' in err)
    ? reject(err.code, err.reason)
    : reject(ErrorCode.FRAMING, 'no frame')
}
