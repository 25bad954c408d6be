import { spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FileJournal, followJournal, listSegments, readJournal, readJournalBackwards, verifyJournal, type RecoveryReport } from '../../../src/journal/file-journal.js'
import { DataDirLockedError, lockDataDir } from '../../../src/journal/lock.js'
import { encodeRecord } from '../../../src/journal/record-codec.js'

interface Rec { n: number }
const dirs: string[] = []
function tmp (): string {
  const d = mkdtempSync(join(tmpdir(), 'dc09-fj-'))
  dirs.push(d)
  return d
}
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

async function all (dir: string): Promise<number[]> {
  const out: number[] = []
  for await (const r of readJournal<Rec>(join(dir, 'journal'))) out.push(r.n)
  return out
}

describe('FileJournal recovery', () => {
  it('cuts a torn tail on start, keeps every complete record, and reports it', async () => {
    const dir = tmp()
    const j = await FileJournal.open<Rec>(dir)
    for (let n = 0; n < 5; n++) await j.append({ n })
    await j.close()
    const seg = listSegments(join(dir, 'journal'))[0]!.path
    const whole = statSync(seg).size
    // Half of a sixth record, as a crash in the middle of a write leaves it.
    appendFileSync(seg, encodeRecord({ n: 5, id: 6 }).subarray(0, 20))
    const reports: RecoveryReport[] = []
    const again = await FileJournal.open<Rec>(dir, { onRecover: (r) => reports.push(r) })
    expect(reports).toEqual([{ segment: seg, records: 5, cutBytes: 20, cutRecords: 0 }])
    expect(statSync(seg).size).toBe(whole)
    expect(await again.append({ n: 6 })).toBe(6)
    await again.close()
    expect(await all(dir)).toEqual([0, 1, 2, 3, 4, 6])
  })

  it('cuts a tail of zeros (blocks allocated but never written before a power cut)', async () => {
    const dir = tmp()
    const j = await FileJournal.open<Rec>(dir)
    await j.append({ n: 1 })
    await j.close()
    appendFileSync(listSegments(join(dir, 'journal'))[0]!.path, Buffer.alloc(4096))
    const again = await FileJournal.open<Rec>(dir)
    expect(again.lastId).toBe(1)
    await again.close()
  })

  it('refuses to start when a record is damaged with committed records after it', async () => {
    const dir = tmp()
    const j = await FileJournal.open<Rec>(dir)
    for (let n = 0; n < 3; n++) await j.append({ n })
    await j.close()
    const seg = listSegments(join(dir, 'journal'))[0]!.path
    const bytes = readFileSync(seg)
    bytes[20] = bytes[20]! ^ 0xff // inside the first record's payload
    writeFileSync(seg, bytes)
    await expect(FileJournal.open<Rec>(dir)).rejects.toMatchObject({ code: 'DC09_ERR_JOURNAL_CORRUPT' })
    const report = await verifyJournal(join(dir, 'journal'))
    expect(report.records).toBe(2)
    expect(report.problems).toEqual([{ segment: seg, offset: 0, reason: 'checksum mismatch' }])
  })

  it('rolls segments and reads across them from any cursor', async () => {
    const dir = tmp()
    const j = await FileJournal.open<Rec>(dir, { segmentBytes: 200 })
    for (let n = 1; n <= 30; n++) await j.append({ n })
    expect(listSegments(join(dir, 'journal')).length).toBeGreaterThan(3)
    const from = []
    for await (const r of j.read(17)) from.push(r.n)
    expect(from).toEqual(Array.from({ length: 14 }, (_, i) => 17 + i))
    await j.close()
    expect(await verifyJournal(join(dir, 'journal'))).toMatchObject({ records: 30, firstId: 1, lastId: 30, problems: [] })
  })
})

/** A disk that fails writes while `full` is set. */
function flakyDisk () {
  const state = { full: false, writes: 0 }
  const openFile = async (path: string, flags: string): Promise<FileHandle> => {
    const fh = await open(path, flags, 0o600)
    return new Proxy(fh, {
      get (target, prop, receiver) {
        if (prop === 'write') {
          return async (...args: Parameters<FileHandle['write']>) => {
            state.writes++
            if (state.full) {
              // Half the bytes land, then the disk is full: the journal must cut them back.
              const [buf, off, len, pos] = args as unknown as [Buffer, number, number, number]
              await target.write(buf, off, Math.floor(len / 2), pos)
              throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
            }
            return (target.write as (...a: unknown[]) => unknown).apply(target, args)
          }
        }
        const v = Reflect.get(target, prop, receiver) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
  }
  return { state, openFile }
}

describe('FileJournal when the disk fails', () => {
  it('rejects the appends of a failed commit, reports unhealthy, and recovers when the disk does', async () => {
    const dir = tmp()
    const disk = flakyDisk()
    const j = await FileJournal.open<Rec>(dir, { openFile: disk.openFile })
    await j.append({ n: 1 })
    disk.state.full = true
    const failed = await Promise.allSettled([j.append({ n: 2 }), j.append({ n: 3 })])
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect(j.healthy).toBe(false)
    disk.state.full = false
    const id = await j.append({ n: 4 })
    expect(j.healthy).toBe(true)
    expect(id).toBeGreaterThan(3)
    await j.close()
    // Nothing of the failed group survives; the file holds exactly the committed records.
    expect(await all(dir)).toEqual([1, 4])
    expect(await verifyJournal(join(dir, 'journal'))).toMatchObject({ problems: [] })
  })
})

describe('data directory lock', () => {
  it('refuses a second writer while the first runs, naming the process that holds it', async () => {
    const dir = tmp()
    // The holder: this process. A second lock in the same process is refused just the same.
    const held = lockDataDir(dir)
    const err = await FileJournal.open<Rec>(dir).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DataDirLockedError)
    expect(String((err as Error).message)).toContain(`process ${process.pid}`)
    held.release()
    const j = await FileJournal.open<Rec>(dir)
    await j.close()
  })

  it('is free again after its holder is killed (SIGKILL leaves no stale lock)', async () => {
    const dir = tmp()
    const lockModule = new URL('../../../dist/src/journal/lock.js', import.meta.url).pathname
    const child = spawn(process.execPath, ['-e', `import('${lockModule}').then(m => { m.lockDataDir(${JSON.stringify(dir)}); console.log('locked') }); setTimeout(() => {}, 30000)`], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((resolve) => child.stdout!.on('data', () => resolve()))
    const err = await FileJournal.open<Rec>(dir).catch((e: unknown) => e)
    expect(String((err as Error).message)).toContain(`process ${child.pid}`)
    child.kill('SIGKILL')
    await new Promise((r) => child.on('exit', r))
    const j = await FileJournal.open<Rec>(dir)
    await j.append({ n: 1 })
    await j.close()
  })

  it('releases the lock on close', async () => {
    const dir = tmp()
    await (await FileJournal.open<Rec>(dir)).close()
    await (await FileJournal.open<Rec>(dir)).close()
  })
})

describe('FileJournal segments and power cuts', () => {
  it('names each segment after the first record it holds, so readers from an id find it', async () => {
    const dir = tmp()
    const j = await FileJournal.open<Rec>(dir, { segmentBytes: 100 })
    // Concurrent appends while segments roll: every segment's name is its first record's id.
    await Promise.all(Array.from({ length: 40 }, (_, n) => j.append({ n })))
    for (let n = 40; n < 60; n++) await j.append({ n })
    await j.close()
    for (const seg of listSegments(join(dir, 'journal'))) {
      const first = []
      for await (const r of readJournal<Rec>(join(dir, 'journal'), seg.firstId)) { first.push(r.id); break }
      expect(first[0]).toBe(seg.firstId)
    }
    expect(await all(dir)).toEqual(Array.from({ length: 60 }, (_, n) => n))
  })

  it('keeps writing to the current segment when a new one cannot be made, and rolls later', async () => {
    const dir = tmp()
    const state = { failCreate: 1 }
    const errors: Error[] = []
    const j = await FileJournal.open<Rec>(dir, {
      segmentBytes: 50,
      onRollError: (e) => errors.push(e),
      openFile: async (path, flags) => {
        if (flags === 'w+' && listSegments(join(dir, 'journal')).length > 0 && state.failCreate-- > 0) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' })
        return open(path, flags, 0o600)
      },
    })
    for (let n = 0; n < 6; n++) await j.append({ n })
    expect(errors.map((e) => e.message)).toEqual(['EMFILE: too many open files'])
    expect(j.healthy).toBe(true)
    await j.close()
    expect(await all(dir)).toEqual([0, 1, 2, 3, 4, 5])
    expect(listSegments(join(dir, 'journal')).length).toBeGreaterThan(1)
    const again = await FileJournal.open<Rec>(dir)
    expect(again.lastId).toBe(6)
    await again.close()
  })

  it('cuts, rather than refuses, a hole of zeros with records after it (unsynced data after a power cut)', async () => {
    const dir = tmp()
    const j = await FileJournal.open<Rec>(dir)
    for (let n = 0; n < 3; n++) await j.append({ n })
    await j.close()
    const seg = listSegments(join(dir, 'journal'))[0]!.path
    // An unsynced group: a hole where its first record was, and its second record whole.
    appendFileSync(seg, Buffer.concat([Buffer.alloc(40), encodeRecord({ n: 9, id: 5 })]))
    const reports: RecoveryReport[] = []
    const again = await FileJournal.open<Rec>(dir, { onRecover: (r) => reports.push(r) })
    expect(reports[0]).toMatchObject({ records: 3, cutRecords: 1 })
    expect(again.lastId).toBe(3)
    await again.close()
    expect(await all(dir)).toEqual([0, 1, 2])
  })
})

describe('following a journal from another thread\'s positions', () => {
  it('reads only up to the position it is given, across segments, and never what lies past it', async () => {
    const dir = tmp()
    // Segments of about two records: every few appends roll to a new one.
    const j = await FileJournal.open<Rec>(dir, { segmentBytes: 60 })
    for (let n = 1; n <= 3; n++) await j.append({ n })
    let at = j.position
    const r = followJournal<Rec>(join(dir, 'journal'), 1, () => at)
    expect((await r.next(100)).map((x) => x.n)).toEqual([1, 2, 3])
    // Committed, rolled to new segments, but not yet told: not read.
    for (let n = 4; n <= 9; n++) await j.append({ n })
    expect(listSegments(join(dir, 'journal')).length).toBeGreaterThan(2)
    expect(await r.next(100)).toEqual([])
    at = j.position
    expect((await r.next(4)).map((x) => x.n)).toEqual([4, 5, 6, 7])
    expect((await r.next(100)).map((x) => x.n)).toEqual([8, 9])
    await r.close()
    const back: number[] = []
    for await (const x of readJournalBackwards<Rec>(join(dir, 'journal'), 7)) back.push(x.n)
    expect(back).toEqual([7, 6, 5, 4, 3, 2, 1])
    await j.close()
  })

  it('does not read bytes past the committed size of the segment being written', async () => {
    const dir = tmp()
    const j = await FileJournal.open<Rec>(dir)
    await j.append({ n: 1 })
    const at = j.position
    await j.append({ n: 2 })
    // The position says one record; the file holds two whole ones (as while a group is being written).
    const r = followJournal<Rec>(join(dir, 'journal'), 1, () => ({ ...at, lastId: 2 }))
    expect((await r.next(100)).map((x) => x.n)).toEqual([1])
    await r.close()
    await j.close()
  })
})
