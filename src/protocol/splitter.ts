/**
 * Turns a byte stream in any chunking into whole frames (LF ... CR), as TCP delivers it:
 * several frames in one chunk, a frame split at any byte, noise between frames, trailing NUL
 * bytes after a CR, a missing CR. The length field says where a
 * frame ends; the CR is then checked, and a frame without it is dropped and the stream
 * resynchronised on the next LF. Sizes are checked before anything is buffered.
 */
import { CR, LF, readHex } from './bytes.js'
import { ErrorCode } from './errors.js'
import { MAX_BODY_BYTES, reject, type Rejection } from './frame.js'
import { lengthFieldOffset, parseFrame } from './frame-parse.js'
import { ok, type Result } from '../result.js'

/** LF, 4 CRC characters, 4 length characters ... CR: bytes around the body in the hex form. */
export const FRAME_OVERHEAD = 10

export interface SplitterOptions {
  /** Largest body (quote to CR) a length field may declare. The protocol's own cap is 0xFFF. */
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

const EMPTY = Buffer.alloc(0)

export class FrameSplitter {
  readonly #sink: SplitterSink
  readonly #maxBody: number
  readonly #maxBuffered: number
  /**
   * Pending bytes of one unfinished frame: `#buf[#start, #end)`. Shared and empty while nothing
   * is pending: an idle connection holds no buffer (a small one would pin a slab of Node's pool).
   */
  #buf: Buffer = EMPTY
  #start = 0
  #end = 0
  /** Pending bytes needed before the next look: the frame's size once its header is read. */
  #need = 0
  #headerKnown = false
  /** Noise bytes seen since the last report. */
  #noise = 0
  /** After one framing error is reported, the rest of its run count as noise until a frame. */
  #failing = false
  /** While paused, bytes not yet scanned wait here (at most the chunk being scanned, plus any pushed meanwhile). */
  #paused = false
  #backlog: Buffer[] | undefined

  constructor (sink: SplitterSink, opts: SplitterOptions = {}) {
    this.#sink = sink
    this.#maxBody = Math.min(opts.maxBodyBytes ?? MAX_BODY_BYTES, MAX_BODY_BYTES)
    this.#maxBuffered = opts.maxBufferedBytes ?? this.#maxBody + FRAME_OVERHEAD
  }

  /** Bytes held for an unfinished frame (the receiver times out slow senders on this). */
  get buffered (): number {
    return this.#end - this.#start
  }

  /**
   * Stops emitting frames, from the next frame boundary on: what is not scanned yet is kept until
   * resume(). Lets a reader bound the frames in flight within one large chunk.
   */
  pause (): void {
    this.#paused = true
  }

  resume (): void {
    if (!this.#paused) return
    this.#paused = false
    const backlog = this.#backlog ?? []
    this.#backlog = undefined
    for (let i = 0; i < backlog.length; i++) {
      if (this.#paused) {
        (this.#backlog ??= []).push(...backlog.slice(i))
        return
      }
      this.push(backlog[i]!)
    }
  }

  get paused (): boolean {
    return this.#paused
  }

  push (chunk: Buffer): void {
    if (this.#paused) {
      (this.#backlog ??= []).push(chunk)
      return
    }
    let off = 0
    while (off < chunk.length) {
      if (this.#end === this.#start) {
        this.#scan(chunk, off, chunk.length, false)
        return
      }
      // Give the unfinished frame only the bytes it still needs, then look again. The rest of
      // the chunk is scanned where it is, so no byte is copied more than once.
      const take = Math.min(this.#need - (this.#end - this.#start), chunk.length - off)
      this.#append(chunk, off, off + take)
      off += take
      if (this.#end - this.#start >= this.#need) this.#scan(this.#buf, this.#start, this.#end, true)
      if (this.#paused && off < chunk.length) {
        (this.#backlog ??= []).push(chunk.subarray(off))
        return
      }
    }
  }

  /** Drops whatever is held and reports unreported noise (connection end, slow-sender timeout). */
  end (): void {
    this.#backlog = undefined
    this.#paused = false
    const held = this.#end - this.#start
    if (held > 0) {
      if (this.#headerKnown) this.#error(ErrorCode.FRAMING, 'the stream ended inside a frame', held)
      else this.#countNoise(this.#buf, this.#start, this.#end)
    }
    this.#start = this.#end = this.#need = 0
    this.#buf = EMPTY
    this.#headerKnown = false
    this.#flushNoise()
  }

  /** Scans `data[from, to)`; `pending`: the range is this splitter's own buffer. */
  #scan (data: Buffer, from: number, to: number, pending: boolean): void {
    let pos = from
    while (pos < to) {
      const lf = data.indexOf(LF, pos)
      if (lf < 0 || lf >= to) {
        this.#countNoise(data, pos, to)
        break
      }
      this.#countNoise(data, pos, lf)
      const h = lengthFieldOffset(data, lf, to)
      if (h === -2) return this.#hold(data, lf, to, pending, 10, false)
      if (h === -1) {
        // An LF that starts no header: keep scanning; what follows it is counted as noise.
        pos = lf + 1
        continue
      }
      const body = readHex(data, h + 1, 3)
      const total = h - lf + 4 + body + 1
      if (body > this.#maxBody || total > this.#maxBuffered) {
        const tooLarge = body > this.#maxBody
        this.#error(tooLarge ? ErrorCode.FRAME_TOO_LARGE : ErrorCode.BUFFER_LIMIT,
          tooLarge ? `the length field declares ${body} bytes, over the cap of ${this.#maxBody}` : `a ${total}-byte frame is over the buffer cap of ${this.#maxBuffered} bytes`, 1)
        pos = lf + 1
        continue
      }
      let cr = lf + total - 1
      // Eldes counts the CR in the length: its frame is one byte shorter than declared. A body
      // never ends in CR otherwise, so a CR just before the expected end marks that form.
      if (cr >= to || data[cr] !== CR) {
        if (cr - 1 < to && data[cr - 1] === CR) cr--
        else if (cr >= to) return this.#hold(data, lf, to, pending, total - 1, true)
      }
      if (data[cr] !== CR) {
        // Missing CR: drop this start and resynchronise on the next LF.
        this.#error(ErrorCode.FRAMING, 'no CR where the length field says the frame ends', 1)
        pos = lf + 1
        continue
      }
      this.#flushNoise()
      this.#failing = false
      // A copy: the frame outlives the chunk (journal, in-flight commits) and must not pin it.
      const frame = Buffer.allocUnsafe(cr + 1 - lf)
      data.copy(frame, 0, lf, cr + 1)
      this.#sink.frame(frame)
      pos = cr + 1
      if (this.#paused && pos < to) {
        // Keep the rest for resume(): a copy when it lives in the pending buffer, which is reused.
        ;(this.#backlog ??= []).push(pending ? Buffer.from(data.subarray(pos, to)) : data.subarray(pos, to))
        break
      }
    }
    if (pending) this.#release()
  }

  /** Keeps `data[from, to)` as the unfinished frame until `need` bytes are there. */
  #hold (data: Buffer, from: number, to: number, pending: boolean, need: number, headerKnown: boolean): void {
    // Holding means the bytes there could not decide: wait for at least one more.
    this.#need = Math.max(need, to - from + 1)
    this.#headerKnown = headerKnown
    if (pending) {
      this.#start = from
      return
    }
    this.#start = this.#end = 0
    this.#append(data, from, to)
  }

  /** Nothing is pending any more: the buffer goes (the next unfinished frame gets a fresh one). */
  #release (): void {
    this.#start = this.#end = 0
    this.#buf = EMPTY
  }

  #append (src: Buffer, from: number, to: number): void {
    const n = to - from
    if (this.#end + n > this.#buf.length) {
      const held = this.#end - this.#start
      // Room for two frames, so that moving the pending bytes down happens at most once per frame's worth of input.
      const size = Math.max(this.#buf.length, 2 * (held + n), 64)
      const next = size > this.#buf.length ? Buffer.allocUnsafe(size) : this.#buf
      this.#buf.copy(next, 0, this.#start, this.#end)
      this.#buf = next
      this.#start = 0
      this.#end = held
    }
    src.copy(this.#buf, this.#end, from, to)
    this.#end += n
  }

  /** Reports a dropped frame start, once per run: later ones in the same run are noise. */
  #error (code: ErrorCode, reason: string, dropped: number): void {
    if (this.#failing) {
      this.#noise += dropped
      return
    }
    this.#flushNoise()
    this.#failing = true
    this.#sink.error(code, reason, dropped)
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

/** The bytes of the one frame (LF ... CR), or why there is not exactly one. */
export type WholeFrame = Result<Buffer, Rejection>

/**
 * The one frame in a datagram (UDP carries one frame per datagram) or a line of text.
 * NUL, CR, LF and spaces around it are tolerated. When the bytes hold no frame but start with a
 * DC-09 header, the frame parser says precisely what is wrong (length, CRC) so that the panel
 * gets its NAK; bytes with no header get no answer at all (a NAK to any datagram would make
 * the receiver a UDP reflector).
 */
export function wholeFrame (bytes: Buffer, opts?: SplitterOptions): WholeFrame {
  // The common case, without a splitter: exactly one frame, maybe followed by benign bytes.
  let end = bytes.length
  while (end > 0 && bytes[end - 1] !== CR && isBenign(bytes[end - 1]!)) end--
  if (bytes[0] === LF && bytes[end - 1] === CR) {
    const h = lengthFieldOffset(bytes, 0, end)
    if (h >= 0) {
      const body = readHex(bytes, h + 1, 3)
      const total = h + 4 + body + 1
      // total - 1: Eldes counts the CR in the length.
      if (body <= (opts?.maxBodyBytes ?? MAX_BODY_BYTES) && total <= (opts?.maxBufferedBytes ?? Infinity) && (total === end || (total - 1 === end && bytes[end - 2] !== CR))) {
        return ok(bytes.subarray(0, end))
      }
    }
  }
  const items = splitAll(bytes, opts)
  const frames = items.filter((i): i is { frame: Buffer } => 'frame' in i)
  if (frames.length === 1) return ok(frames[0]!.frame)
  if (frames.length > 1) return reject(ErrorCode.FRAMING, `${frames.length} frames where one was expected`)
  let start = 0
  while (start < end && bytes[start] !== LF && isBenign(bytes[start]!)) start++
  if (bytes[start] === LF && lengthFieldOffset(bytes, start, end) >= 0) {
    const parsed = parseFrame(bytes.subarray(start, end))
    if (!parsed.ok) return parsed
  }
  const err = items.find((i) => !('frame' in i) && i.code !== ErrorCode.NOISE)
  if (err !== undefined && !('frame' in err)) return reject(err.code, err.reason)
  return reject(ErrorCode.NOISE, 'no DC-09 frame')
}

function isBenign (b: number): boolean {
  return b === 0 || b === CR || b === LF || b === 0x20 || b === 0x09
}
