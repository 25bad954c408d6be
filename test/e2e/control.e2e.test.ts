/**
 * The control socket: how `dc09 verify` journals its event while a receiver holds the data
 * directory. It takes only the events commands make, in bounded requests, and answers once the
 * event is committed; without a receiver, the command appends to the journal itself.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FileJournal, readJournal } from '../../src/journal/file-journal.js'
import { MemoryJournal } from '../../src/journal/memory-journal.js'
import { appendForCommand, appendViaControl, controlPath, startControl } from '../../src/pipeline/control.js'
import type { DerivedRecord, JournalRecord } from '../../src/journal/record.js'

const log = pino({ level: 'silent' })
const record = (over: Partial<DerivedRecord> = {}): DerivedRecord => ({
  type: 'derived', receivedAt: Date.now(), kind: 'verification', account: '1234', stage: 'verify', causedBy: 0, n: 0, data: { outcome: 'invalid', user: null, caller: 'op' }, ...over,
})

/** Sends raw bytes and collects what comes back until the socket closes or `ms` passes. */
function raw (path: string, bytes: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(path)
    let out = ''
    const done = () => { clearTimeout(t); s.destroy(); resolve(out) }
    const t = setTimeout(done, ms)
    s.on('data', (c: Buffer) => { out += c.toString() })
    s.on('close', done)
    s.on('error', done)
    s.on('connect', () => s.write(bytes))
  })
}

let dir: string
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'dc09-ctl-')) })
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('the control socket', () => {
  it('journals a command\'s event and answers with its id once committed; owner-only', async () => {
    const journal = new MemoryJournal<JournalRecord>()
    const control = await startControl(dir, journal, log)
    try {
      expect(statSync(controlPath(dir)).mode & 0o777).toBe(0o600)
      const id = await appendViaControl(dir, record({ kind: 'duress', data: { outcome: 'valid', user: 3, caller: 'op' } }))
      expect(id).toBe(1)
      const stored = []
      for await (const r of journal.read()) stored.push(r)
      expect(stored).toEqual([{ ...record({ kind: 'duress', data: { outcome: 'valid', user: 3, caller: 'op' } }), receivedAt: expect.any(Number), id: 1 }])
    } finally {
      await control.close()
    }
  })

  it('refuses anything but the events commands make, and keeps serving', async () => {
    const journal = new MemoryJournal<JournalRecord>()
    const control = await startControl(dir, journal, log)
    try {
      const path = controlPath(dir)
      const ask = async (req: unknown) => JSON.parse((await raw(path, JSON.stringify(req) + '\n', 500)).split('\n')[0]!) as { ok: boolean, error?: string }
      expect(await ask({ op: 'append', record: record({ stage: 'cases', kind: 'case-verified' }) })).toEqual({ ok: false, error: 'not an event a command may journal' })
      expect(await ask({ op: 'append', record: record({ kind: 'case-opened' }) })).toEqual({ ok: false, error: 'not an event a command may journal' })
      // A removal is journaled only under its own producer's name, and nothing else under that name.
      expect(await ask({ op: 'append', record: record({ kind: 'account-removed' }) })).toEqual({ ok: false, error: 'not an event a command may journal' })
      expect(await ask({ op: 'append', record: record({ stage: 'accounts', kind: 'case-resolve' }) })).toEqual({ ok: false, error: 'not an event a command may journal' })
      expect(await ask({ op: 'append', record: { type: 'frame', account: '1234' } })).toEqual({ ok: false, error: 'not a derived record' })
      expect(await ask({ op: 'append', record: record({ account: '12;DROP' }) })).toEqual({ ok: false, error: 'bad account' })
      expect(await ask({ op: 'append', record: { ...record(), data: null } })).toEqual({ ok: false, error: 'bad fields' })
      // The holder is an account's createdAt: a string of at most 40 characters.
      expect(await ask({ op: 'append', record: { ...record(), holder: 7 } })).toEqual({ ok: false, error: 'bad holder' })
      expect(await ask({ op: 'append', record: { ...record(), holder: 'x'.repeat(41) } })).toEqual({ ok: false, error: 'bad holder' })
      expect(await ask({ op: 'delete' })).toEqual({ ok: false, error: 'unknown op' })
      expect(await raw(path, 'not json\n', 500)).toBe('{"ok":false,"error":"not JSON"}\n')
      expect(journal.lastId).toBe(0)
      expect(await appendViaControl(dir, record())).toBe(1)
      expect(await appendViaControl(dir, record({ stage: 'accounts', kind: 'account-removed', holder: '2026-01-01T00:00:00.000Z', data: { createdAt: '2026-01-01T00:00:00.000Z', tenant: null, by: 'cli' } }))).toBe(2)
      expect(await appendViaControl(dir, { ...record(), holder: 'x'.repeat(40) })).toBe(3)
    } finally {
      await control.close()
    }
  })

  it('drops a request larger than 64 KiB without journaling anything', async () => {
    const journal = new MemoryJournal<JournalRecord>()
    const control = await startControl(dir, journal, log)
    try {
      const huge = JSON.stringify({ op: 'append', record: record({ data: { outcome: 'invalid', user: null, caller: 'x'.repeat(70_000) } }) }) + '\n'
      expect(await raw(controlPath(dir), huge, 1000)).toBe('')
      expect(journal.lastId).toBe(0)
    } finally {
      await control.close()
    }
  })

  it('answers an error when the journal cannot commit, so the command does not answer either', async () => {
    const journal = new MemoryJournal<JournalRecord>()
    journal.failWith = new Error('disk full')
    const control = await startControl(dir, journal, log)
    try {
      await expect(appendViaControl(dir, record())).rejects.toThrow('the receiver refused the event: the journal could not commit')
    } finally {
      await control.close()
    }
  })
})

describe('appendForCommand', () => {
  it('appends to the journal itself when no receiver holds the directory', async () => {
    expect(await appendForCommand(dir, record())).toBe(1)
    expect(await appendForCommand(dir, record({ kind: 'duress' }))).toBe(2)
    const kinds: string[] = []
    for await (const r of readJournal<JournalRecord>(join(dir, 'journal'))) kinds.push((r as DerivedRecord).kind)
    expect(kinds).toEqual(['verification', 'duress'])
  })

  it('goes through the running receiver when one holds the lock', async () => {
    const journal = await FileJournal.open<JournalRecord>(dir)
    const control = await startControl(dir, journal, log)
    try {
      expect(await appendForCommand(dir, record())).toBe(1)
      expect(journal.lastId).toBe(1)
    } finally {
      await control.close()
      await journal.close()
    }
  })

  it('fails, rather than answer, when the directory is locked and nobody listens', async () => {
    const journal = await FileJournal.open<JournalRecord>(dir)
    try {
      await expect(appendForCommand(dir, record())).rejects.toThrow('its receiver cannot be reached')
    } finally {
      await journal.close()
    }
  })
})
