/**
 * The receiver names on every frame it journals the holder of its account number at receive time
 * (the account's createdAt), so that the pipeline, reaching the frame later, never takes it for
 * whoever holds the number by then. A frame of an unregistered account (quarantine) has none.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import { serializeFrame } from '../../../src/protocol/index.js'
import { defaultOptions } from '../../../src/receiver/options.js'
import { Receiver } from '../../../src/receiver/receiver.js'
import { expandFrame, journalJson, type JournalFrame, type JournalRecord } from '../../../src/journal/record.js'

const T0 = Date.UTC(2026, 11, 1, 12)

async function journaled (journal: MemoryJournal<JournalRecord>): Promise<JournalFrame[]> {
  const out: JournalFrame[] = []
  for await (const r of journal.read()) if (r.type === 'frame') out.push(JSON.parse(journalJson(r)) as JournalFrame)
  return out
}

describe('the holder a frame is received for', () => {
  it('is named on the journaled frame, and a later holder of the number gets its own; a quarantined frame names none', async () => {
    let made = T0 - 86_400_000
    const accounts = new MemoryAccountStore(undefined, { now: () => new Date(made) })
    accounts.add({ account: '1234', tenant: 't1' })
    const t1 = accounts.get('1234')!.createdAt
    const journal = new MemoryJournal<JournalRecord>()
    const receiver = new Receiver({ journal, accounts, logger: pino({ level: 'silent' }), options: { ...defaultOptions, unknownAccounts: 'quarantine' }, clock: () => T0 })
    let seq = 0
    const send = (account: string) => receiver.handleFrame(serializeFrame({ token: 'ADM-CID', seq: ++seq, lpref: '0', acct: account, data: `#${account}|1130 01 015` }), { transport: 'tcp', address: '10.0.0.1', peer: '10.0.0.1:4000' })
    await send('1234')
    accounts.remove('1234')
    await send('1234')
    made = T0 - 1000
    accounts.add({ account: '1234', tenant: 't2' })
    const t2 = accounts.get('1234')!.createdAt
    await send('1234')
    const frames = await journaled(journal)
    expect(frames.map((f) => [f.account, f.holder, f.flags])).toEqual([['1234', t1, {}], ['1234', undefined, { quarantine: true }], ['1234', t2, {}]])
    expect(Object.keys(frames[1]!)).not.toContain('holder')
    // Read back for the stages and exports, the holder stays.
    expect(expandFrame({ ...frames[0]!, id: 1 }).holder).toBe(t1)
    expect(Object.keys(expandFrame({ ...frames[1]!, id: 2 }))).not.toContain('holder')
  })
})
