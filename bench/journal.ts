/**
 * `npm run build && node dist/bench/journal.js`: the file journal's group commit on this machine's
 * disk. Records of about 500 bytes; three cases: `1`, one appender in ping-pong (append, wait,
 * append again: one panel); `100`, 100 appenders doing the same at once (100 busy panels, which
 * all wait for the same sync and append again together); `spread`, 100 appenders each pausing
 * 1-2 ms between appends (arrivals spread over the syncs, as from many panels). Prints appends/s
 * and the latency of an append (p50/p99), and the floor: a bare 500-byte write + fdatasync loop.
 *
 * `--impl A.js,B.js`: compare journal modules (each exporting `FileJournal`). Each case runs in
 * short slices (`--slice-ms`, default 200), `--slices` rounds (default 10) of one slice per
 * contender in a new order each round: a shared machine's disk noise then falls on every
 * contender alike. The paired ratio: per round, a journal's appends/s over the first journal's,
 * the median over the rounds. `--case NAME`: that case alone.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { interleaved, percentile, textTable } from './stats.js'

interface Appender { append: (r: object) => Promise<unknown>, close: () => Promise<void> }
type Opener = (dir: string) => Promise<Appender>

const args = process.argv.slice(2)
const arg = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt }
const sliceMs = Number(arg('--slice-ms', '200'))
const slices = Number(arg('--slices', '10'))
const impls = arg('--impl', new URL('../src/journal/file-journal.js', import.meta.url).pathname).split(',')
const dataDir = arg('--dir', tmpdir())
const only = args.includes('--case') ? arg('--case', '') : undefined

// About 500 bytes on disk with the record header and id.
const record = (n: number) => ({ n, account: '1234', code: 'E130', zone: 7, pad: 'x'.repeat(440) })

/** The floor: one 500-byte positional write and one fdatasync after another, nothing else. */
async function openBare (dir: string): Promise<Appender> {
  const fh = await open(join(dir, 'f'), 'w+')
  const buf = Buffer.alloc(500, 0x78)
  let pos = 0
  return {
    append: async () => {
      const at = pos
      pos += buf.length
      await fh.write(buf, 0, buf.length, at)
      await fh.datasync()
    },
    close: () => fh.close(),
  }
}

interface Tally { lat: number[], ms: number }

async function slice (j: Appender, appenders: number, pauseMs: number, into: Tally): Promise<void> {
  const end = performance.now() + sliceMs
  let n = 0
  const loop = async () => {
    while (performance.now() < end) {
      const t = performance.now()
      await j.append(record(n++))
      into.lat.push(performance.now() - t)
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * (pauseMs - 1)))
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: appenders }, loop))
  into.ms += performance.now() - t0
}

const contenders: Array<{ name: string, open: Opener }> = [{ name: 'bare write+fdatasync', open: openBare }]
for (const path of impls) {
  const m = await import(pathToFileURL(resolve(path)).href) as { FileJournal: { open: Opener } }
  contenders.push({ name: path, open: (dir) => m.FileJournal.open(dir) })
}

const rows: string[][] = []
const f = (x: number) => x.toFixed(2)
for (const [name, appenders, pauseMs] of [['1', 1, 0], ['100', 100, 0], ['spread', 100, 2]] as const) {
  if (only !== undefined && only !== name) continue
  const dirs = contenders.map(() => mkdtempSync(join(dataDir, 'dc09-bench-journal-')))
  const journals = await Promise.all(contenders.map((c, i) => c.open(dirs[i]!)))
  const tallies: Tally[] = contenders.map(() => ({ lat: [], ms: 0 }))
  // Rounds of one slice per contender, in a new order each round; per round, each journal's
  // appends/s over the first journal's: paired figures, taken within the same second.
  const ratios: number[][] = contenders.map(() => [])
  for (let r = 0; r < slices; r++) {
    const rates: number[] = []
    for (const i of interleaved(1, contenders.length)) {
      const t = tallies[i]!
      const [n, ms] = [t.lat.length, t.ms]
      // The bare loop is one appender whatever the case: it is the floor of one panel.
      await slice(journals[i]!, i === 0 ? 1 : appenders, i === 0 ? 0 : pauseMs, t)
      rates[i] = (t.lat.length - n) / (t.ms - ms)
    }
    for (let i = 1; i < contenders.length; i++) ratios[i]!.push(rates[i]! / rates[1]!)
  }
  for (const [i, c] of contenders.entries()) {
    await journals[i]!.close()
    rmSync(dirs[i]!, { recursive: true, force: true })
    const sorted = Float64Array.from(tallies[i]!.lat).sort()
    const paired = i === 0 ? '' : f(percentile(Float64Array.from(ratios[i]!).sort(), 50))
    rows.push([name, c.name, (sorted.length / (tallies[i]!.ms / 1000)).toFixed(0), paired, f(percentile(sorted, 50)), f(percentile(sorted, 99))])
  }
}
process.stdout.write(textTable(['case', 'journal', 'appends/s', 'median paired ratio', 'p50 ms', 'p99 ms'], rows) + '\n')
