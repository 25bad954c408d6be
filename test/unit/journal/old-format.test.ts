/**
 * A journal written before events were kept in compact form (fixtures/journal-v1: Contact ID,
 * a SIA block with modifiers and texts, a link test, an unknown code, a text-only block, an
 * encrypted frame, a derived event; its export as that version printed it) still reads as it
 * did: the same export, the same recent events, the same duplicate window; and new records
 * written after it read alike.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { RecentEvents } from '../../../src/api/recent.js'
import { exportJournal } from '../../../src/cli/commands/journal.js'
import { FileJournal } from '../../../src/journal/file-journal.js'
import { serializeFrame } from '../../../src/protocol/index.js'
import { defaultOptions } from '../../../src/receiver/options.js'
import { Receiver } from '../../../src/receiver/receiver.js'
import { journalJson, type FrameRecord, type JournalRecord } from '../../../src/journal/record.js'

/** The data block of the fixture's SIA frame (id 2). */
const SIA_DATA = "#1234|Nri1/id3/BA01^Front door^/BA02/ri2/OP003/TA4*12KM/NR001*'HA'NM|AKitchen"
const FIXTURE = new URL('../../../fixtures/journal-v1/', import.meta.url).pathname
const exported = readFileSync(join(FIXTURE, 'export.jsonl'), 'utf8')
const old = exported.trim().split('\n').map((l) => JSON.parse(l) as { id: number } & JournalRecord)

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-oldjournal-'))
  cpSync(join(FIXTURE, 'journal'), join(dir, 'journal'), { recursive: true })
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

async function exportText (): Promise<string> {
  let out = ''
  await exportJournal(dir, 1, (s) => { out += s })
  return out
}

it('exports exactly as the version that wrote it did', async () => {
  expect(old.map((r) => r.type)).toEqual(['frame', 'frame', 'frame', 'frame', 'frame', 'frame', 'derived'])
  expect(await exportText()).toBe(exported)
})

it('fills the recent events with the same events, newest first', async () => {
  const journal = await FileJournal.open<JournalRecord>(dir, { toJson: journalJson })
  const recent = new RecentEvents({ perAccount: 50, total: 1000 })
  expect(await recent.fill(journal.readBackwards())).toBe(7)
  await journal.close()
  const frames = old.filter((r): r is FrameRecord & { id: number } => r.type === 'frame' && r.account === '1234')
  const listed = recent.list('1234', 50).filter((e) => e.type === 'frame')
  expect(listed.map((e) => e.id)).toEqual(frames.map((r) => r.id).reverse())
  expect(listed.map((e) => e.events)).toEqual(frames.map((r) => r.events).reverse())
})

it('takes new records after the old ones, and reads both; a retransmission of an old event is acknowledged, not journaled again', async () => {
  const journal = await FileJournal.open<JournalRecord>(dir, { toJson: journalJson })
  const accounts = new MemoryAccountStore()
  accounts.add({ account: '1234' })
  const sia = old[1] as FrameRecord & { id: number }
  let now = sia.receivedAt + 60_000
  const receiver = new Receiver({ journal, accounts, logger: pino({ level: 'silent' }), options: defaultOptions, clock: () => now })
  expect(await receiver.start()).toBeGreaterThanOrEqual(5)
  const meta = { transport: 'tcp' as const, address: '127.0.0.1', peer: '127.0.0.1:5000' }
  const again = await receiver.handleFrame(Buffer.from(sia.raw, 'base64'), meta)
  expect(again?.toString('latin1')).toContain('"ACK"0002')
  expect(journal.lastId).toBe(7)
  // The same block under a new sequence number: a new event, journaled in the compact form.
  const frame = serializeFrame({ token: 'SIA-DCS', seq: 9, lpref: '0', acct: '1234', data: SIA_DATA, xdata: [{ id: 'V', value: 'x' }] })
  now += 1000
  expect((await receiver.handleFrame(frame, meta))?.toString('latin1')).toContain('"ACK"0009')
  expect(journal.lastId).toBe(8)
  await journal.close()
  const lines = (await exportText()).trim().split('\n')
  expect(lines.slice(0, 7).join('\n') + '\n').toBe(exported)
  const added = JSON.parse(lines[7]!) as FrameRecord & { id: number }
  expect(added).toMatchObject({ id: 8, seq: '0009', account: '1234' })
  expect(added.events).toEqual(sia.events)
  expect(lines[7]).not.toContain('"ev"')
  // On disk: the compact form after the old full one.
  const segment = readFileSync(join(dir, 'journal', 'seg-0000000000000001.log'), 'latin1')
  expect(segment.indexOf('"ev":{"f":"S"')).toBeGreaterThan(segment.lastIndexOf('"events":['))
})
