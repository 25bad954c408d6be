/**
 * The crash test: the receiver runs as a child process under load from many panels, is killed
 * with SIGKILL at a random moment, and restarts on the same data, round after round. Every
 * (account, sequence) that any panel saw acknowledged must be in the journal, and none twice
 * (panels retransmit what was not acknowledged, and the duplicate window, rebuilt from the
 * journal on start, must recognise what was committed but never acknowledged).
 *
 * A Sur-Gard automation output runs all along, to an automation client that acknowledges each
 * record a little late (so that it is behind when the receiver dies): every journaled event must
 * reach it at least once, in journal order, with no gap at any point (after a restart the output
 * sends again from its position, never from further on).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, expect, it } from 'vitest'
import { readJournal } from '../../src/journal/file-journal.js'
import { PipelineStore } from '../../src/pipeline/store.js'
import { checkAnswer, nodeAes, parseFrame, serializeFrame, type AesKey } from '../../src/protocol/index.js'
import type { JournalRecord } from '../../src/journal/record.js'
import { TcpPanel } from './helpers.js'
import { parseRecord } from '../support/surgard-client.js'

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
// Each round is a receiver start, load, and a SIGKILL at a random point; 14 keep the suite within its budget.
const ROUNDS = 14
const PANELS = 30

function startServer (dir: string): Promise<{ child: ChildProcess, port: number }> {
  // Small segments: the crash lands in the middle of segment rolls too. The pipeline runs the
  // built-in stages and a counting one, and is killed mid-way as often as the receiver.
  const child = spawn(process.execPath, [
    BIN, 'serve', '--data', dir, '--port', '0', '--api-port', '0', '--log-level', 'info', '--segment-bytes', '65536',
    '--pepper-file', join(dir, '..', `${basename(dir)}.pepper`), '--pipeline', join(dir, '..', `${basename(dir)}.pipeline.json`),
    '--config', join(dir, '..', `${basename(dir)}.limits.json`),
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the receiver did not start')), 15_000)
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (l) => {
      const j = JSON.parse(l) as { msg?: string, port?: number }
      if (j.msg === 'listening') { clearTimeout(timer); resolve({ child, port: j.port! }) }
    })
    child.on('exit', (code) => reject(new Error(`the receiver exited with ${code}`)))
  })
}

interface Panel {
  readonly account: string
  readonly key: AesKey | undefined
  seq: number
  /** The event sent and not yet acknowledged: retransmitted, same sequence, same content. */
  pending: { seq: number, data: string } | undefined
}

function build (p: Panel, ev: { seq: number, data: string }): Buffer {
  // Built anew on each send: an encrypted retransmission has a new pad and timestamp, as a panel's does.
  return serializeFrame({ token: 'ADM-CID', encrypted: p.key !== undefined, seq: ev.seq, lpref: '0', acct: p.account, data: ev.data, timestamp: Date.now() }, { key: p.key })
}

/** Drives one panel on one connection until it fails (the receiver died) or `stop` is set. */
async function drive (p: Panel, port: number, acked: Map<string, number>, stop: { now: boolean }): Promise<void> {
  let conn: TcpPanel
  try { conn = await TcpPanel.connect(port) } catch { return }
  try {
    while (!stop.now) {
      if (p.pending === undefined) {
        p.seq = p.seq >= 9999 ? 1 : p.seq + 1
        // The group and zone carry the sequence number, so that the automation's records name their frame.
        p.pending = { seq: p.seq, data: `#${p.account}|1130 ${String(Math.floor(p.seq / 1000)).padStart(2, '0')} ${String(p.seq % 1000).padStart(3, '0')}` }
      }
      const f = build(p, p.pending)
      conn.write(f)
      const a = await conn.answer(2000)
      if (a === null) return
      const c = checkAnswer(a, (parseFrame(f) as { ok: true, value: never }).value, p.key)
      if (c.token !== 'ACK' || c.problems.length > 0) throw new Error(`bad answer: ${c.token} ${c.problems.join('; ')}`)
      const k = `${p.account}/${p.pending.seq}`
      acked.set(k, (acked.get(k) ?? 0) + 1)
      p.pending = undefined
    }
  } finally {
    conn.end()
  }
}

/** A port free now (the automation output listens on a fixed port across restarts). */
function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/**
 * Automation software on the receiver's Sur-Gard port: keeps every record it gets, ACKs each
 * after a millisecond or so (slower than the panels send; at once from `catchUp` on), and
 * connects again whenever the receiver is gone, until stopped.
 */
function automation (port: number): { records: string[], stop: () => void, catchUp: () => void } {
  const records: string[] = []
  let stopped = false
  let late = true
  let socket: Socket | undefined
  const attach = (): void => {
    if (stopped) return
    const s = connect(port, '127.0.0.1')
    socket = s
    let buf = Buffer.alloc(0)
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      for (let end = buf.indexOf(0x14); end >= 0; end = buf.indexOf(0x14)) {
        records.push(buf.subarray(0, end).toString('latin1'))
        buf = buf.subarray(end + 1)
        const ack = (): void => { if (!s.destroyed) s.write(Buffer.from([0x06])) }
        if (late) setTimeout(ack, 1)
        else setImmediate(ack)
      }
    })
    s.on('error', () => {})
    s.on('close', () => { setTimeout(attach, 50) })
  }
  attach()
  return { records, stop: () => { stopped = true; socket?.destroy() }, catchUp: () => { late = false } }
}

describe('crash test', () => {
  it(`loses no acknowledged event and journals none twice, over ${ROUNDS} SIGKILLs`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-crash-'))
    writeFileSync(`${dir}.pepper`, randomBytes(32), { mode: 0o600 })
    // Panels here send as fast as their ACKs come back, from one address: far above the frame-rate limits, which are not what this tests.
    const automationPort = await freePort()
    writeFileSync(`${dir}.limits.json`, JSON.stringify({
      frameBurstPerAccount: 1_000_000, framesPerSecondPerAccount: 1_000_000, frameBurstPerAddress: 1_000_000, framesPerSecondPerAddress: 1_000_000,
      outputs: [{ name: 'automation', type: 'surgard', port: automationPort }],
    }))
    const auto = automation(automationPort)
    writeFileSync(`${dir}.pipeline.json`, JSON.stringify({
      stages: ['classify', 'supervision', 'cases', { module: new URL('../fixtures/stages/counter.mjs', import.meta.url).pathname }, 'jsonl'],
    }))
    try {
      const panels: Panel[] = Array.from({ length: PANELS }, (_, i) => {
        const account = String(3000 + i)
        const hex = i % 2 === 0 ? undefined : (i * 7919).toString(16).padStart(32, 'A').slice(-32).toUpperCase()
        return { account, key: hex === undefined ? undefined : nodeAes.importKey(Buffer.from(hex, 'hex')), seq: 0, pending: undefined, hex } as Panel & { hex?: string }
      })
      writeFileSync(join(dir, 'fleet.json'), JSON.stringify(panels.map((p) => ({ account: p.account, ...((p as { hex?: string }).hex === undefined ? {} : { key: (p as { hex?: string }).hex, keyFormat: 'hex' }) }))))
      const imported = spawnSync(process.execPath, [BIN, 'accounts', 'import', '--data', dir, join(dir, 'fleet.json')], { encoding: 'utf8' })
      expect(imported.status, imported.stderr).toBe(0)

      const acked = new Map<string, number>()
      let kills = 0
      for (let round = 0; round <= ROUNDS; round++) {
        const { child, port } = await startServer(dir)
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
        const stop = { now: false }
        const drivers = panels.map((p) => drive(p, port, acked, stop))
        if (round < ROUNDS) {
          await new Promise((r) => setTimeout(r, 150 + Math.random() * 350))
          child.kill('SIGKILL')
          kills++
          await exited
          await Promise.all(drivers)
        } else {
          // Last round: let every panel get its pending event acknowledged, then stop cleanly.
          await new Promise((r) => setTimeout(r, 500))
          stop.now = true
          await Promise.all(drivers)
          child.kill('SIGTERM')
          expect(await exited).toBe(0)
        }
      }
      expect(kills).toBe(ROUNDS)
      expect(panels.every((p) => p.pending === undefined)).toBe(true)

      // One more start, without panels, for the pipeline and the automation to catch up with the journal.
      auto.catchUp()
      {
        const { child } = await startServer(dir)
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
        const deadline = Date.now() + 60_000
        for (let stable = 0; stable < 3 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
          const store = new PipelineStore(dir)
          const cursor = Math.min(store.cursor(), store.cursor('output:automation'))
          store.close()
          let last = 0
          for await (const r of readJournal<JournalRecord>(join(dir, 'journal'), Math.max(1, cursor))) last = r.id
          stable = cursor === last ? stable + 1 : 0
        }
        child.kill('SIGTERM')
        expect(await exited).toBe(0)
      }

      const journaled = new Map<string, number>()
      const frames: number[] = []
      const counted = new Map<number, number[]>()
      for await (const r of readJournal<JournalRecord>(join(dir, 'journal'))) {
        if (r.type === 'derived') {
          if (r.kind === 'counted') counted.set(r.causedBy, [...(counted.get(r.causedBy) ?? []), r.data.n as number])
          continue
        }
        frames.push(r.id)
        const k = `${r.account}/${Number(r.seq)}`
        journaled.set(k, (journaled.get(k) ?? 0) + 1)
      }
      const lost = [...acked.keys()].filter((k) => !journaled.has(k))
      const twice = [...journaled].filter(([, n]) => n > 1).map(([k]) => k)
      expect(acked.size).toBeGreaterThan(ROUNDS * PANELS)
      expect(lost).toEqual([])
      expect(twice).toEqual([])
      // The pipeline, killed mid-way 20 times: every frame counted exactly once, in journal order,
      // and its event journaled once.
      const store = new PipelineStore(dir)
      const count = store.read<number>('counter', 'count')[0]?.[1]
      const pipelineCursor = store.cursor()
      store.close()
      expect(pipelineCursor).toBeGreaterThanOrEqual(frames.at(-1)!)
      expect(count).toBe(frames.length)
      expect(frames.filter((id) => counted.get(id)?.length !== 1)).toEqual([])
      expect(frames.map((id) => counted.get(id)![0])).toEqual(frames.map((_, i) => i + 1))
      expect(counted.size).toBe(frames.length)
      // The automation got every frame's event at least once, in journal order: its records, read
      // as positions in the journal's frames, never skip ahead of what it had already seen.
      auto.stop()
      const position = new Map<string, number>()
      for await (const r of readJournal<JournalRecord>(join(dir, 'journal'))) {
        if (r.type !== 'frame') continue
        const k = `${r.account}/${Number(r.seq)}`
        expect(position.has(k), `two frames of ${k}`).toBe(false)
        position.set(k, position.size)
      }
      let reach = -1
      const gaps: string[] = []
      const got = new Set<number>()
      for (const text of auto.records) {
        const rec = parseRecord(text, 5)
        expect(rec.kind, text).not.toBe('bad')
        if (rec.kind !== 'cid') continue
        const at = position.get(`${rec.account}/${Number(rec.group) * 1000 + Number(rec.number)}`)
        expect(at, `a record of no journaled frame: ${text}`).toBeDefined()
        if (at! > reach + 1) gaps.push(`${text} at ${at} after ${reach}`)
        reach = Math.max(reach, at!)
        got.add(at!)
      }
      expect(gaps).toEqual([])
      expect(got.size).toBe(position.size)
      const again = auto.records.filter((t) => parseRecord(t, 5).kind === 'cid').length - got.size
      const { listSegments } = await import('../../src/journal/file-journal.js')
      const segments = listSegments(join(dir, 'journal')).length
      expect(segments).toBeGreaterThan(ROUNDS)
      console.info(`crash test: ${ROUNDS} SIGKILLs, ${acked.size} events acknowledged, ${journaled.size} journaled in ${segments} segments, none lost, none twice; the pipeline counted each once; the automation got each at least once, in order (${again} sent again after a crash)`)
    } finally {
      auto.stop()
      rmSync(dir, { recursive: true, force: true })
      rmSync(`${dir}.pepper`, { force: true })
      rmSync(`${dir}.pipeline.json`, { force: true })
      rmSync(`${dir}.limits.json`, { force: true })
    }
  }, 240_000)
})
