/**
 * The events stream's message ids: what makes a retransmission that reaches another receiver be
 * stored once (the stream answers "duplicate" within its window), and a different event stored.
 */
import { describe, expect, it } from 'vitest'
import { decodeFrame, parseKey, serializeFrame, type DecodedFrame } from '../../../src/protocol/index.js'
import { dedupeKey } from '../../../src/receiver/dedupe.js'
import { eventSubject, messageId } from '../../../src/cluster/journal.js'
import type { DerivedRecord, JournalFrame } from '../../../src/journal/record.js'

const KEY_HEX = '00112233445566778899AABBCCDDEEFF'
const parsed = parseKey(KEY_HEX, 'hex')
if (!parsed.ok) throw new Error(parsed.reason)
const key = parsed.value

function frame (seq: number, data: string, timestamp: number, encrypted = true): DecodedFrame {
  const bytes = serializeFrame({ token: 'ADM-CID', encrypted, seq, lpref: '0', acct: '5678', data, timestamp }, { key })
  const d = decodeFrame(bytes, { profile: { key } })
  if (!d.ok) throw new Error(d.reason)
  return d.value
}

/** The journal record's fields the id is made of. */
function record (f: DecodedFrame, holder = '2026-01-01T00:00:00.000Z'): JournalFrame {
  return { type: 'frame', account: f.account.toUpperCase(), holder, seq: f.seq, dedupe: dedupeKey(f) } as unknown as JournalFrame
}

describe('message ids of frames', () => {
  it('are the same for a retransmission re-encrypted with a new pad and a later timestamp', () => {
    const a = frame(17, '#5678|1130 01 015', Date.UTC(2026, 11, 2, 10, 0, 0))
    const b = frame(17, '#5678|1130 01 015', Date.UTC(2026, 11, 2, 10, 0, 9))
    expect(a.encrypted).toBe(true)
    expect(messageId(record(a))).toBe(messageId(record(b)))
    expect(messageId(record(a))).toMatch(/^f:5678:0017:[0-9a-f]{32}$/)
  })

  it('differ for another sequence number, other content, or another holder of the account number', () => {
    const t = Date.UTC(2026, 11, 2, 10, 0, 0)
    const base = messageId(record(frame(17, '#5678|1130 01 015', t)))
    expect(messageId(record(frame(18, '#5678|1130 01 015', t)))).not.toBe(base)
    // The same sequence number reused after the 9999 wrap for another event.
    expect(messageId(record(frame(17, '#5678|1131 01 015', t)))).not.toBe(base)
    expect(messageId(record(frame(17, '#5678|1130 01 015', t), '2026-06-01T00:00:00.000Z'))).not.toBe(base)
  })

  it('are absent for link tests: each one is a new proof that the panel is alive', () => {
    const bytes = serializeFrame({ token: 'NULL', seq: 3, lpref: '0', acct: '1234', timestamp: Date.UTC(2026, 11, 2) })
    const d = decodeFrame(bytes)
    if (!d.ok) throw new Error(d.reason)
    expect(messageId(record(d.value))).toBeUndefined()
  })
})

describe('message ids of derived events', () => {
  const derived = (more: Partial<DerivedRecord> = {}): DerivedRecord => ({ type: 'derived', receivedAt: 1, kind: 'case-opened', account: '1234', stage: 'cases', causedBy: 42, n: 0, data: {}, ...more })

  it('name the stage, the cause and the position, which a replay of the pipeline makes again', () => {
    expect(messageId(derived())).toBe(messageId(derived({ receivedAt: 99, data: { other: true } })))
    expect(messageId(derived({ n: 1 }))).not.toBe(messageId(derived()))
    expect(messageId(derived({ causedBy: 43 }))).not.toBe(messageId(derived()))
  })

  it('are absent for events of no cause (a code presented by an operator)', () => {
    expect(messageId(derived({ causedBy: 0 }))).toBeUndefined()
  })
})

describe('subjects', () => {
  it('keep the subject one token per field whatever an account number holds', () => {
    expect(eventSubject({ type: 'frame', account: '12.34*>' } as unknown as JournalFrame)).toBe('dc09.ev.f.12_34__')
    expect(eventSubject({ type: 'derived', account: '' } as unknown as DerivedRecord)).toBe('dc09.ev.d._')
  })
})
