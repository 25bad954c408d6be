/**
 * `npm run build && node dist/bench/journal.js`: the file journal's group commit on this machine's
 * disk. Records of about 500 bytes; two cases: one appender in ping-pong (append, wait, append
 * again: one panel) and 100 appenders doing the same at once (100 panels). Prints appends/s and
 * the latency of an append (p50/p99), and the floor: a bare write + fdatasync loop.
 *
 * `--impl A.js,B.js`: compare journal modules (each exporting `FileJournal`), run alternately in
 * rounds so that the noise of a shared machine falls on all of them alike. `--seconds N` per run,
 * `--rounds N`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { percentile, textTable } from './stats.js'

interface Appender { append: (r: object) => Promise<number>, close: () => Promise<void> }
type Opener = (dir: string) => Promise<Appender>

const args = process.argv.slice(2)
const arg = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt }
const seconds = Number(arg('--seconds', '2'))
const rounds = Number(arg('--rounds', '3'))
const impls = arg('--impl', new URL('../src/journal/file-journal.js', import.meta.url).pathname).split(',')
const dataDir = arg('--dir', tmpdir())

// About 500 bytes on disk with the record header and id.
const record = (n: number) => ({ n, account: '1234', code: 'E130', zone: 7, pad: 'x'.repeat(440) })

async function run (openJournal: Opener, appenders: number): Promise<{ perSec: number, p50: number, p99: number }> {
  const dir = mkdtempSync(join(dataDir, 'dc09-bench-journal-'))
  const j = await openJournal(dir)
  const lat: number[] = []
  const end = performance.now() + seconds * 1000
  let n = 0
  const loop = async () => {
    while (performance.now() < end) {
      const t = performance.now()
      await j.append(record(n++))
      lat.push(performance.now() - t)
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: appenders }, loop))
  const took = (performance.now() - t0) / 1000
  await j.close()
  rmSync(dir, { recursive: true, force: true })
  const sorted = Float64Array.from(lat).sort()
  return { perSec: lat.length / took, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
}

/** The floor: one 500-byte positional write and one fdatasync after another, nothing else. */
async function bareSync (): Promise<{ perSec: number, p50: number, p99: number }> {
  const dir = mkdtempSync(join(dataDir, 'dc09-bench-journal-'))
  const fh = await open(join(dir, 'f'), 'w+')
  const buf = Buffer.alloc(500, 0x78)
  const lat: number[] = []
  const end = performance.now() + seconds * 1000
  let pos = 0
  const t0 = performance.now()
  while (performance.now() < end) {
    const t = performance.now()
    await fh.write(buf, 0, buf.length, pos)
    pos += buf.length
    await fh.datasync()
    lat.push(performance.now() - t)
  }
  const took = (performance.now() - t0) / 1000
  await fh.close()
  rmSync(dir, { recursive: true, force: true })
  const sorted = Float64Array.from(lat).sort()
  return { perSec: lat.length / took, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
}

const openers: Array<{ name: string, open: Opener }> = []
for (const path of impls) {
  const m = await import(pathToFileURL(resolve(path)).href) as { FileJournal: { open: Opener } }
  openers.push({ name: path, open: (dir) => m.FileJournal.open(dir) })
}

const rows: string[][] = []
const f = (x: number) => x.toFixed(2)
for (let r = 0; r < rounds; r++) {
  const bare = await bareSync()
  rows.push([`round ${r + 1} bare write+fdatasync`, '1', bare.perSec.toFixed(0), f(bare.p50), f(bare.p99)])
  for (const appenders of [1, 100]) {
    for (const o of openers) {
      const res = await run(o.open, appenders)
      rows.push([`round ${r + 1} ${o.name}`, String(appenders), res.perSec.toFixed(0), f(res.p50), f(res.p99)])
    }
  }
}
process.stdout.write(textTable(['run', 'appenders', 'appends/s', 'p50 ms', 'p99 ms'], rows) + '\n')
