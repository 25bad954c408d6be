/**
 * `dc09 outputs status|dead-letters|retry|replay` over a data directory that an output ran on
 * (a real FileJournal and pipeline store): what they print, and that the commands they journal
 * are done by the output when it runs again.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, expect, it } from 'vitest'
import { deadLetters, replay, retry, status } from '../../../src/cli/commands/outputs.js'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { FileJournal } from '../../../src/journal/file-journal.js'
import { journalJson, type FrameRecord, type JournalRecord } from '../../../src/journal/record.js'
import { DEFAULT_KINDS, type Delivery, type Output, type OutputEvent } from '../../../src/outputs/output.js'
import { OutputRunner } from '../../../src/outputs/runner.js'
import { PipelineStore } from '../../../src/pipeline/store.js'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function frame (account: string): FrameRecord {
  return {
    type: 'frame', receivedAt: Date.UTC(2026, 11, 3), transport: 'tcp', peer: '127.0.0.1:5000', account, rcvr: undefined, lpref: '0', seq: '0001', token: 'SIA-DCS',
    encrypted: false, events: [], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
}

/** Refuses what `refuse` says, delivers the rest; remembers every id it was given. */
function output (refuse: (id: number) => boolean, got: number[]): Output {
  return {
    name: 'hook', type: 'webhook', window: 1,
    async start () {},
    async deliver (e: OutputEvent): Promise<Delivery> { got.push(e.id); return refuse(e.id) ? { ok: false, error: 'HTTP 410 Gone', attempts: 1 } : { ok: true } },
    status: () => ({ state: 'up', connected: 1 }),
    async close () {},
  }
}

/** Runs the output over the directory until it has caught up with the journal, then stops. */
async function runOnce (dir: string, o: Output): Promise<void> {
  const journal = await FileJournal.open<JournalRecord>(dir, { toJson: journalJson })
  const store = new PipelineStore(dir)
  const r = new OutputRunner({ journal, store, accounts: new MemoryAccountStore(), output: o, filter: { kinds: new Set(DEFAULT_KINDS), personal: false, fromBeginning: true }, log: pino({ level: 'silent' }), commitMs: 0, pollMs: 5 })
  await r.start()
  const end = Date.now() + 5000
  while (r.cursor < journal.lastId && Date.now() < end) await sleep(5)
  await r.stop()
  store.close()
  await journal.close()
}

it('shows each output, its dead letters, and journals retry and replay for the output to do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-outputs-cli-'))
  dirs.push(dir)
  const j = await FileJournal.open<JournalRecord>(dir, { toJson: journalJson })
  for (const a of ['1001', '1002', '1003']) await j.append(frame(a))
  await j.close()
  let text = ''
  const out = (s: string): void => { text += s }
  expect(await status(dir, false, out)).toBe(0)
  expect(text).toBe('no output has run with this data\n')

  const got: number[] = []
  await runOnce(dir, output((id) => id === 2, got))
  expect(got).toEqual([1, 2, 3])
  text = ''
  await status(dir, true, out)
  // 4: the output-parked trouble, which this output skips.
  expect(JSON.parse(text)).toMatchObject({ name: 'hook', type: 'webhook', cursor: 4, lag: 0, delivered: 2, parked: 1, deadLetters: 1, state: 'up', connected: 1 })
  text = ''
  await status(dir, false, out)
  expect(text).toMatch(/^output hook \(webhook\): at journal id 4 of 4 \(0 behind\); 2 delivered, 0 retried, 1 parked, 1 in its dead letters; up \(as of .*\)\n$/)
  text = ''
  expect(deadLetters(dir, 'hook', true, out, out)).toBe(0)
  expect(JSON.parse(text)).toMatchObject({ id: 2, account: '1002', error: 'HTTP 410 Gone', attempts: 1, times: 1 })
  text = ''
  expect(deadLetters(dir, 'nope', false, out, out)).toBe(1)
  expect(text).toContain('no output named nope')

  text = ''
  expect(await retry(dir, 'hook', out, out)).toBe(0)
  expect(text).toContain('journaled as event 5: output hook sends its 1 parked event(s) again')
  expect(await replay(dir, 'hook', 3, out, out)).toBe(0)
  got.length = 0
  await runOnce(dir, output(() => false, got))
  // The retry sends 2; the replay sends 3 (4 is its own trouble, 5 the retry, done already).
  expect(got).toEqual([2, 3])
  text = ''
  await status(dir, true, out)
  expect(JSON.parse(text)).toMatchObject({ cursor: 6, deadLetters: 0, delivered: 4, parked: 1 })
})
