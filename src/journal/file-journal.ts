/**
 * The durable journal: append-only segment files of checksummed records (record-codec.ts).
 *
 * Group commit: records appended while a write+fdatasync is in progress wait and go to disk
 * together in the next one, so the event loop never waits on the disk and one sync covers many
 * events. An append resolves only after the sync of its group returned (fsync `group`, the
 * default), or after its own sync (`each`). Either way nothing acknowledged can be lost: the loss
 * window on power failure is zero acknowledged events.
 *
 * With `group`, the next group's bytes are written while the sync before it is in flight, so
 * that its own sync can start as soon as that one returns. One fdatasync covers the bytes
 * written before it began, and only those: a group resolves when a sync that began after its
 * write returned has returned. This takes the write out of the time between two syncs when
 * appends arrive while one runs; it does nothing for appenders that all wait for the same sync,
 * and cannot make one appender waiting for each answer (one panel) faster than a write and an
 * fdatasync per event: that is its bound, about 0.5 to 1 ms on an ordinary server disk (more
 * when the disk is shared), where the write itself is under a tenth of a millisecond.
 *
 * If a write or sync fails (disk full, I/O error), the appends not yet committed reject (the
 * failed group's and every group written after the last committed one: they sit past the cut),
 * the file is cut back to its last committed size, the journal reports itself unhealthy, and the
 * next append tries again: it recovers by itself when the disk does.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { open, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { JournalClosedError, type Journal, type JournalReader, type Stored } from './journal.js'
import { lockDataDir, type DirLock } from './lock.js'
import { decodeRecord, encodeRecord, HEADER_BYTES, MAGIC, scanRecord } from './record-codec.js'

export type FsyncPolicy = 'group' | 'each'

export interface FileJournalOptions {
  /** `group` (default): one fdatasync per group of appends; `each`: one per append (slow, for comparison). */
  readonly fsync?: FsyncPolicy
  /** A segment is closed and a new one started past this size. */
  readonly segmentBytes?: number
  /** How to open files (tests inject failing disks here). */
  readonly openFile?: (path: string, flags: string) => Promise<FileHandle>
  /** Reports what recovery did (torn tail cut). */
  readonly onRecover?: (report: RecoveryReport) => void
  /** Reports a failure to start a new segment (the journal keeps writing to the current one and retries). */
  readonly onRollError?: (err: Error) => void
  /** The JSON text of a record (default JSON.stringify): a writer that knows its records' shape can be faster. */
  readonly toJson?: (record: never) => string
}

export interface RecoveryReport {
  readonly segment: string
  readonly records: number
  /** Bytes of a torn tail that were cut (0 when the segment ended cleanly). */
  readonly cutBytes: number
  /** Whole records found after a hole of zeros in the cut tail (written, never synced, so never acknowledged). */
  readonly cutRecords: number
}

export class JournalCorruptError extends Error {
  readonly code = 'DC09_ERR_JOURNAL_CORRUPT'
}

const SEGMENT = /^seg-(\d{16})\.log$/
const segmentName = (firstId: number) => `seg-${String(firstId).padStart(16, '0')}.log`

/** Segment files of a journal directory, oldest first, with the first id each holds. */
export function listSegments (dir: string): Array<{ readonly path: string, readonly firstId: number }> {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  return names.flatMap((n) => {
    const m = SEGMENT.exec(n)
    return m === null ? [] : [{ path: join(dir, n), firstId: Number(m[1]) }]
  }).sort((a, b) => a.firstId - b.firstId)
}

interface Pending {
  readonly bytes: Buffer
  readonly id: number
  readonly resolve: (id: number) => void
  readonly reject: (err: Error) => void
}

/** Appends written together, and where their bytes end in the segment. */
interface Group {
  readonly pendings: Pending[]
  readonly end: number
}

/** An fdatasync in flight and the groups written before it began: the ones it commits. */
interface Sync {
  readonly groups: Group[]
  /** Settles (never rejects) once it returned: with its failure, or undefined when the groups are committed. */
  readonly done: Promise<Error | undefined>
}

const WOKEN = Symbol('woken')
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))
const toError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)))

export class FileJournal<T extends object> implements Journal<T> {
  readonly #dir: string
  readonly #opts: Required<Pick<FileJournalOptions, 'fsync' | 'segmentBytes'>> & FileJournalOptions
  readonly #lock: DirLock
  #fh: FileHandle | undefined
  #segmentPath: string | undefined
  /** Committed bytes of the current segment. */
  #size = 0
  /** Where the next group's bytes go: past the committed bytes and those written but not yet synced. */
  #end = 0
  #lastId = 0
  #nextId = 1
  #queue: Pending[] = []
  #flushing: Promise<void> | undefined
  /** Wakes the flush waiting on a sync, to write appends that arrived meanwhile. */
  #wake: (() => void) | undefined
  #healthy = true
  #closed = false
  /** The current segment is full: start a new one before the next group. */
  #rollDue = false
  /** A failed group's bytes are still in the file past #size: cut them before writing again. */
  #dirty = false
  #pendingPath: string | undefined

  private constructor (dir: string, lock: DirLock, opts: FileJournalOptions) {
    this.#dir = dir
    this.#lock = lock
    this.#opts = { fsync: 'group', segmentBytes: 64 << 20, ...opts }
  }

  /**
   * Opens (creating if needed) the journal in `dataDir/journal`, taking the data directory's
   * lock. A torn tail on the last segment is cut and reported; corruption before the tail
   * refuses to open (run `dc09 journal verify`).
   */
  static async open<T extends object> (dataDir: string, opts: FileJournalOptions = {}): Promise<FileJournal<T>> {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const lock = lockDataDir(dataDir)
    const journalDir = join(dataDir, 'journal')
    if (!existsSync(journalDir)) {
      mkdirSync(journalDir, { mode: 0o700 })
      // The journal directory's own name must survive a power cut too.
      await syncDir(dataDir)
    }
    try {
      const journal = new FileJournal<T>(join(dataDir, 'journal'), lock, opts)
      await journal.#recover()
      return journal
    } catch (err) {
      lock.release()
      throw err
    }
  }

  get lastId (): number {
    return this.#lastId
  }

  get healthy (): boolean {
    return this.#healthy
  }

  async #recover (): Promise<void> {
    const segments = listSegments(this.#dir)
    const last = segments.at(-1)
    if (last === undefined) {
      this.#fh = await this.#createSegment(1)
      this.#segmentPath = this.#pendingPath
      this.#size = 0
      this.#end = 0
      return
    }
    const fh = await this.#openFile(last.path, 'r+')
    this.#segmentPath = last.path
    const { size } = await fh.stat()
    const buf = Buffer.allocUnsafe(size)
    if (size > 0) await fh.read(buf, 0, size, 0)
    let offset = 0
    let records = 0
    let lastId = last.firstId - 1
    while (offset < size) {
      const d = decodeRecord(buf, offset)
      if (d.kind !== 'record') {
        // A torn write only ever damages the end. After a power cut, a file system may leave a
        // hole of zeros inside the last unsynced write with whole records after it: synced data
        // has no holes, so nothing from the hole on was acknowledged, and it is cut. Anything
        // else before the end (a flipped byte in synced data) is refused, not cut away.
        if (hasRecordAfter(buf, offset + 1) && !isZeros(buf, offset, Math.min(size, offset + HEADER_BYTES))) {
          await fh.close()
          throw new JournalCorruptError(`${last.path}: damaged record at byte ${offset} (${d.kind === 'bad' ? d.reason : 'truncated'}) with records after it; run \`dc09 journal verify\``)
        }
        break
      }
      lastId = d.payload.id
      offset += d.size
      records++
    }
    if (offset < size) {
      await fh.truncate(offset)
      await fh.datasync()
    }
    this.#opts.onRecover?.({ segment: last.path, records, cutBytes: size - offset, cutRecords: countRecords(buf, offset) })
    this.#fh = fh
    this.#size = offset
    this.#end = offset
    this.#lastId = lastId
    this.#nextId = lastId + 1
  }

  async #openFile (path: string, flags: string): Promise<FileHandle> {
    return this.#opts.openFile !== undefined ? this.#opts.openFile(path, flags) : open(path, flags, 0o600)
  }

  /**
   * A new, empty segment named after the first id it will hold. Opened for positional writes
   * (not O_APPEND, under which Linux ignores the position), and its name made durable.
   */
  async #createSegment (firstId: number): Promise<FileHandle> {
    const path = join(this.#dir, segmentName(firstId))
    const fh = await this.#openFile(path, 'w+')
    try {
      await syncDir(this.#dir, (p, flags) => this.#openFile(p, flags))
      this.#pendingPath = path
      return fh
    } catch (err) {
      await fh.close().catch(() => {})
      // An empty segment left behind would claim ids the current one goes on holding: readers
      // would look for them there, and the next start would take it for the last segment.
      await unlink(path).catch(() => {})
      throw err
    }
  }

  /** Moves to a new segment before writing the group that starts at `firstId`; on failure keeps the current one. */
  async #roll (firstId: number): Promise<void> {
    try {
      const next = await this.#createSegment(firstId)
      const old = this.#fh!
      this.#fh = next
      this.#segmentPath = this.#pendingPath
      this.#size = 0
      this.#end = 0
      this.#rollDue = false
      await old.close().catch(() => {})
    } catch (err) {
      // Keep writing to the current segment; a later group tries again.
      this.#opts.onRollError?.(err instanceof Error ? err : new Error(String(err)))
    }
  }

  append (record: T): Promise<number> {
    if (this.#closed) return Promise.reject(new JournalClosedError())
    const id = this.#nextId++
    const bytes = encodeRecord(this.#opts.toJson === undefined ? record : (this.#opts.toJson as (r: T) => string)(record), id)
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ bytes, id, resolve, reject })
      // Appends of the same tick join one group; later ones go in the next one.
      if (this.#flushing === undefined) this.#flushing = new Promise((done) => setImmediate(() => { void this.#flush().then(done) }))
      else this.#wake?.()
    })
  }

  /**
   * Writes the queued appends as groups and syncs them, a group's write overlapping the sync
   * before it, until nothing is queued, written or syncing.
   */
  async #flush (): Promise<void> {
    let sync: Sync | undefined
    /** Written since the sync in flight began: the next sync commits them. */
    const written: Group[] = []
    for (;;) {
      if (sync === undefined && written.length > 0) sync = this.#sync(written.splice(0))
      if (this.#queue.length > 0 && (sync === undefined || this.#mayOverlap())) {
        const pendings = this.#opts.fsync === 'each' ? this.#queue.splice(0, 1) : this.#queue.splice(0)
        try {
          written.push(await this.#write(pendings, sync === undefined))
        } catch (err) {
          // The sync in flight commits or fails its own groups first; then what is not committed is cut back.
          const before = sync
          sync = undefined
          const failed = before === undefined ? undefined : await before.done
          await this.#cutBack()
          if (failed !== undefined) rejectAll(before!.groups, failed)
          rejectAll([...written.splice(0), { pendings }], toError(err))
        }
        continue
      }
      if (sync === undefined) break
      // Wait for the sync; meanwhile, if the next group may be written now, for appends to write.
      const arrived = this.#mayOverlap() ? new Promise<typeof WOKEN>((resolve) => { this.#wake = () => resolve(WOKEN) }) : undefined
      const failed = await (arrived === undefined ? sync.done : Promise.race([sync.done, arrived]))
      this.#wake = undefined
      if (failed === WOKEN) {
        await nextTurn() // the rest of this turn's appends join the group
        continue
      }
      if (failed !== undefined) {
        // Every group written after the failed ones sits past the cut: it goes too.
        const lost = [...sync.groups, ...written.splice(0)]
        await this.#cutBack()
        rejectAll(lost, failed)
      }
      sync = undefined
    }
    this.#flushing = undefined
  }

  /** Whether a group may be written while a sync is in flight (not one sync per append, not into a full segment). */
  #mayOverlap (): boolean {
    return this.#opts.fsync === 'group' && this.#end < this.#opts.segmentBytes && !this.#dirty
  }

  /**
   * Writes a group at the end. `settled`: nothing is in flight or waiting for a sync, so the
   * segment may be rolled and a failed group's leftovers cut first.
   */
  async #write (pendings: Pending[], settled: boolean): Promise<Group> {
    if (settled && this.#rollDue) await this.#roll(pendings[0]!.id)
    const fh = this.#fh!
    if (settled && this.#dirty) {
      // Never write over a failed group's leftovers: one of its records could survive past ours.
      await fh.truncate(this.#size)
      await fh.datasync()
      this.#dirty = false
    }
    const at = this.#end
    const bytes = pendings.length === 1 ? pendings[0]!.bytes : Buffer.concat(pendings.map((p) => p.bytes))
    let written = 0
    while (written < bytes.length) {
      const r = await fh.write(bytes, written, bytes.length - written, at + written)
      written += r.bytesWritten
    }
    this.#end = at + bytes.length
    return { pendings, end: this.#end }
  }

  /** Starts an fdatasync that commits `groups` (all written before it began) when it returns. */
  #sync (groups: Group[]): Sync {
    const done = this.#fh!.datasync().then(() => {
      const last = groups.at(-1)!
      this.#size = last.end
      this.#lastId = last.pendings.at(-1)!.id
      this.#healthy = true
      for (const g of groups) for (const p of g.pendings) p.resolve(p.id)
      if (this.#size >= this.#opts.segmentBytes) this.#rollDue = true
      return undefined
    }, toError)
    return { groups, done }
  }

  /**
   * After a failed write or sync, with nothing in flight: cuts the file back to its last
   * committed size, so the next group follows the last committed record. The lost ids are not
   * reused: ids stay monotonic, with a gap.
   */
  async #cutBack (): Promise<void> {
    this.#healthy = false
    this.#dirty = true
    this.#end = this.#size
    try {
      await this.#fh!.truncate(this.#size)
      await this.#fh!.datasync()
      this.#dirty = false
    } catch { /* the next group retries the cut before it writes */ }
  }

  async * read (fromId = 1): AsyncIterable<Stored<T>> {
    yield * readJournal<T>(this.#dir, fromId, this.#lastId)
  }

  /**
   * Where the committed part of the journal ends: the last committed id, and the segment being
   * written with its committed size. A reader in another thread follows the journal from it.
   */
  get position (): CommittedPosition {
    return { lastId: this.#lastId, path: this.#segmentPath ?? '', size: this.#size }
  }

  /**
   * Follows the journal from `fromId`: reads only what was committed since the last call, from
   * where it stopped, moving on to the next segment when one is finished.
   */
  reader (fromId: number): JournalReader<T> {
    return followJournal<T>(this.#dir, fromId, () => this.position)
  }

  /**
   * Newest first. Each segment is read whole and walked for where its records start (checksums
   * checked, nothing parsed); records are parsed one at a time, backwards, only as far as the
   * caller goes: a start holds one segment's bytes, not all its records made into objects.
   */
  readBackwards (): AsyncIterable<Stored<T>> {
    return readJournalBackwards<T>(this.#dir, this.#lastId)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    while (this.#flushing !== undefined) await this.#flushing
    await this.#fh?.close()
    this.#fh = undefined
    this.#lock.release()
  }
}

/** The committed end of a journal (see FileJournal.position). */
export interface CommittedPosition {
  readonly lastId: number
  /** The segment being written ('' before there is one). */
  readonly path: string
  /** Its committed bytes: anything past them may be a group still being written, or one that failed. */
  readonly size: number
}

const firstIdOf = (path: string): number => {
  const m = SEGMENT.exec(path.slice(path.lastIndexOf('/') + 1))
  return m === null ? 0 : Number(m[1])
}

/**
 * Follows a journal directory from `fromId`, reading only what `committed` says is committed:
 * segments before the one being written to their end, that one to its committed size, later ones
 * (made by a roll not yet committed) not at all. Bytes past the committed size are never read: a
 * failed group's leftovers there are cut and written over. Takes no lock: the receiver's own
 * pipeline follows its journal this way, and so can another thread given the positions.
 */
export function followJournal<T extends object> (dir: string, fromId: number, committed: () => CommittedPosition): JournalReader<T> {
  let segment: { path: string, firstId: number } | undefined
  let fh: FileHandle | undefined
  let offset = 0
  let buffered = Buffer.alloc(0)
  /** Where the next record starts in `buffered` (what is before it was returned). */
  let pos = 0
  let wanted = fromId
  /** Decodes whole committed records from `buffered` into `out`, up to `max`. */
  const take = (out: Array<Stored<T>>, max: number, lastId: number): void => {
    while (out.length < max) {
      const d = decodeRecord(buffered, pos)
      if (d.kind !== 'record' || d.payload.id > lastId) break
      pos += d.size
      if (d.payload.id >= wanted) {
        out.push(d.payload as unknown as Stored<T>)
        wanted = d.payload.id + 1
      }
    }
  }
  return {
    next: async (max) => {
      const out: Array<Stored<T>> = []
      // What was read before and not yet returned first: the file is read only when that runs
      // out (a reader far behind reads each byte once, and never copies what it holds again).
      take(out, max, committed().lastId)
      if (out.length >= max) return out
      for (;;) {
        const at = committed()
        const current = firstIdOf(at.path)
        if (segment === undefined) {
          // The directory is listed only to find a segment (not on every call: a reader woken by
          // every commit would list it hundreds of times a second).
          const segments = listSegments(dir)
          segment = [...segments].reverse().find((sg) => sg.firstId <= wanted) ?? segments[0]
          if (segment === undefined) return out
          fh = await open(segment.path, 'r')
          offset = 0
          buffered = Buffer.alloc(0)
          pos = 0
        }
        const finished = segment.firstId < current
        const end = finished ? (await fh!.stat()).size : segment.path === at.path ? at.size : 0
        if (offset < end) {
          const chunk = Buffer.allocUnsafe(Math.min(end - offset, 1 << 20))
          const { bytesRead } = await fh!.read(chunk, 0, chunk.length, offset)
          offset += bytesRead
          const rest = buffered.length - pos
          buffered = rest === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([buffered.subarray(pos), chunk.subarray(0, bytesRead)])
          pos = 0
          take(out, max, at.lastId)
          if (out.length >= max) return out
          if (bytesRead > 0) continue
        }
        const later = finished && offset >= end && buffered.length === pos ? listSegments(dir).find((sg) => sg.firstId > segment!.firstId) : undefined
        if (later !== undefined) {
          // This segment is finished: go on with the next one.
          await fh!.close()
          segment = undefined
          wanted = Math.max(wanted, later.firstId)
          continue
        }
        return out
      }
    },
    close: async () => { await fh?.close() },
  }
}

/** The committed records of a journal directory up to `upTo`, newest first (see FileJournal.readBackwards). */
export async function * readJournalBackwards<T extends object> (dir: string, upTo: number): AsyncIterable<Stored<T>> {
  const segments = listSegments(dir)
  for (let s = segments.length - 1; s >= 0; s--) {
    const nextFirst = segments[s + 1]?.firstId ?? Number.MAX_SAFE_INTEGER
    const fh = await open(segments[s]!.path, 'r')
    let buf: Buffer
    try {
      const size = (await fh.stat()).size
      buf = Buffer.allocUnsafe(size)
      if (size > 0) await fh.read(buf, 0, size, 0)
    } finally {
      await fh.close()
    }
    const starts: number[] = []
    for (let off = 0; off < buf.length;) {
      const r = scanRecord(buf, off)
      if (r.kind !== 'record') break
      starts.push(off)
      off += r.size
    }
    for (let i = starts.length - 1; i >= 0; i--) {
      const d = decodeRecord(buf, starts[i]!)
      // Appended after the read began, or (a segment cut short by a failed roll) past the next one's start.
      if (d.kind !== 'record' || d.payload.id > upTo || d.payload.id >= nextFirst) continue
      yield d.payload as unknown as Stored<T>
    }
  }
}

function rejectAll (groups: ReadonlyArray<{ readonly pendings: readonly Pending[] }>, err: Error): void {
  for (const g of groups) for (const p of g.pendings) p.reject(err)
}

/** Whether a whole, valid record starts anywhere at or after `from`. */
function hasRecordAfter (buf: Buffer, from: number): boolean {
  const magic = Buffer.allocUnsafe(4)
  magic.writeUInt32BE(MAGIC, 0)
  for (let i = buf.indexOf(magic, from); i >= 0 && i + HEADER_BYTES <= buf.length; i = buf.indexOf(magic, i + 1)) {
    if (decodeRecord(buf, i).kind === 'record') return true
  }
  return false
}

/**
 * Reads committed records from a journal directory without taking its lock, so that exports
 * and verification work while the receiver runs. Reading stops at the first record that is not
 * whole (one being written) or at `upTo`.
 */
export async function * readJournal<T extends object> (dir: string, fromId = 1, upTo = Number.MAX_SAFE_INTEGER): AsyncIterable<Stored<T>> {
  const segments = listSegments(dir)
  for (let s = 0; s < segments.length; s++) {
    const next = segments[s + 1]
    if (next !== undefined && next.firstId <= fromId) continue
    const seg = segments[s]!
    const fh = await open(seg.path, 'r')
    try {
      const size = (await fh.stat()).size
      const buf = Buffer.allocUnsafe(size)
      if (size > 0) await fh.read(buf, 0, size, 0)
      for (let off = 0; off < size;) {
        const d = decodeRecord(buf, off)
        if (d.kind !== 'record') return
        if (d.payload.id > upTo) return
        if (d.payload.id >= fromId) yield d.payload as unknown as Stored<T>
        off += d.size
      }
    } finally {
      await fh.close()
    }
  }
}

export interface VerifyReport {
  readonly segments: number
  readonly records: number
  readonly firstId: number | undefined
  readonly lastId: number | undefined
  /** Damage found: where and what. A damaged tail of the last segment is a torn write. */
  readonly problems: ReadonlyArray<{ readonly segment: string, readonly offset: number, readonly reason: string }>
}

/** Checks every checksum of every segment and that ids increase. */
export async function verifyJournal (dir: string): Promise<VerifyReport> {
  const segments = listSegments(dir)
  const problems: Array<{ segment: string, offset: number, reason: string }> = []
  let records = 0
  let firstId: number | undefined
  let lastId: number | undefined
  for (const seg of segments) {
    const size = statSync(seg.path).size
    const fh = await open(seg.path, 'r')
    const buf = Buffer.allocUnsafe(size)
    try { if (size > 0) await fh.read(buf, 0, size, 0) } finally { await fh.close() }
    let off = 0
    while (off < size) {
      const d = decodeRecord(buf, off)
      if (d.kind !== 'record') {
        problems.push({ segment: seg.path, offset: off, reason: d.kind === 'bad' ? d.reason : 'a record cut short (torn write)' })
        // Resynchronise on the next whole record, to count what is still readable.
        let next = -1
        const magic = Buffer.allocUnsafe(4)
        magic.writeUInt32BE(MAGIC, 0)
        for (let i = buf.indexOf(magic, off + 1); i >= 0; i = buf.indexOf(magic, i + 1)) {
          if (decodeRecord(buf, i).kind === 'record') { next = i; break }
        }
        if (next < 0) break
        off = next
        continue
      }
      if (lastId !== undefined && d.payload.id <= lastId) {
        problems.push({ segment: seg.path, offset: off, reason: `id ${d.payload.id} does not follow ${lastId}` })
      }
      firstId ??= d.payload.id
      lastId = d.payload.id
      records++
      off += d.size
    }
  }
  return { segments: segments.length, records, firstId, lastId, problems }
}

function isZeros (buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false
  return true
}

/** Whole records anywhere at or after `from` (for the recovery report). */
function countRecords (buf: Buffer, from: number): number {
  const magic = Buffer.allocUnsafe(4)
  magic.writeUInt32BE(MAGIC, 0)
  let n = 0
  for (let i = buf.indexOf(magic, from); i >= 0; i = buf.indexOf(magic, i + 1)) if (decodeRecord(buf, i).kind === 'record') n++
  return n
}

/** fsync a directory, so that names created in it survive a power cut. */
async function syncDir (dir: string, openFile: (path: string, flags: string) => Promise<FileHandle> = open): Promise<void> {
  const fh = await openFile(dir, 'r')
  try { await fh.sync() } finally { await fh.close() }
}
