/**
 * Every fixture in fixtures/frames (the verified vectors, frames quoted by other implementations,
 * real captures from public sources, and hand-built quirk cases) is decoded against its expected
 * fields, rebuilt, round-tripped, and fed to the splitter split at every offset and byte by byte.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { escapeFrame, unescapeFrame } from '../src/cli/escape.js'
import {
  FrameSplitter, decodeFrame, nodeAes, openPayload, parseFrame, parseKey, readContent, serializeFrame, wholeFrame,
  type AesKey, type DecodedFrame,
} from '../src/protocol/index.js'
import { compactEvents, expandEvents, type CompactEvents } from '../src/journal/compact.js'

const DIR = new URL('../fixtures/frames/', import.meta.url)

interface Fixture {
  name: string
  bytes: Buffer
  source: string
  key?: string
  keyFormat?: 'hex' | 'ascii'
  pad?: string
  canonical?: boolean
  answer?: boolean
  now?: string
  expect: Record<string, unknown> & { ok: boolean }
}

function load (): Fixture[] {
  const names = readdirSync(DIR).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).sort()
  return names.map((name) => {
    const meta = JSON.parse(readFileSync(new URL(`${name}.json`, DIR), 'utf8')) as Omit<Fixture, 'name' | 'bytes'>
    const text = readFileSync(new URL(`${name}.txt`, DIR), 'utf8').replace(/\n$/, '')
    const u = unescapeFrame(text)
    if (!u.ok) throw new Error(`${name}.txt: ${u.reason}`)
    return { ...meta, name, bytes: u.value }
  })
}

const fixtures = load()

function keyOf (f: Fixture): AesKey | undefined {
  if (f.key === undefined) return undefined
  const k = parseKey(f.key, f.keyFormat ?? 'hex', nodeAes)
  if (!k.ok) throw new Error(`${f.name}: ${k.reason}`)
  return k.value
}

/** JSON null means "absent" in the fixtures. */
function absentAsUndefined (v: unknown): unknown {
  if (v === null) return undefined
  if (Array.isArray(v)) return v.map(absentAsUndefined)
  if (typeof v === 'object' && v !== undefined) return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, absentAsUndefined(x)]))
  return v
}

function decode (f: Fixture) {
  const whole = wholeFrame(f.bytes)
  if (!whole.ok) return whole
  return decodeFrame(whole.value, { profile: { key: keyOf(f) }, now: f.now === undefined ? undefined : Date.parse(f.now) })
}

function view (d: DecodedFrame) {
  return {
    token: d.token, encrypted: d.encrypted, seq: d.seq, rcvr: d.rcvr, lpref: d.lpref, acct: d.acct, account: d.account,
    crcForm: d.crcForm, data: escapeFrame(d.data), xdata: d.xdata.map((x) => ({ id: x.id, value: x.value })),
    panelTime: d.panelTime === undefined ? undefined : new Date(d.panelTime).toISOString(), quirks: d.quirks, events: d.events,
  }
}

function rebuild (d: DecodedFrame, key: AesKey | undefined, pad: Buffer | undefined): Buffer {
  return serializeFrame({
    token: d.token, encrypted: d.encrypted, seq: d.seq, rcvr: d.rcvr, lpref: d.lpref, acct: d.acct,
    data: d.data, xdata: d.xdata.map((x) => ({ id: x.id, value: x.raw })), timestamp: d.panelTime, crcForm: d.crcForm,
  }, { key, pad })
}

/** The frame bytes as a stream delivers them: without trailing NULs. */
function frameBytes (b: Buffer): Buffer {
  let end = b.length
  while (end > 0 && b[end - 1] === 0) end--
  return b.subarray(0, end)
}

it('has fixtures for the verified vectors and real captures', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(60)
  expect(fixtures.filter((f) => f.source.startsWith('verified vector')).length).toBeGreaterThanOrEqual(11)
})

describe.each(fixtures.filter((f) => f.answer !== true))('$name', (f) => {
  it('decodes to the expected fields or rejection', () => {
    const r = decode(f)
    if (f.expect.ok) {
      expect(r.ok, r.ok ? '' : `${r.code}: ${r.reason}`).toBe(true)
      const { ok: _ok, ...fields } = f.expect
      if (r.ok) expect(view(r.value)).toMatchObject(absentAsUndefined(fields) as object)
    } else {
      expect(r.ok).toBe(false)
      if (!r.ok) expect({ code: r.code, reply: r.reply }).toMatchObject({ code: f.expect.code, ...(f.expect.reply === undefined ? {} : { reply: f.expect.reply }) })
    }
  })

  it.runIf(f.expect.ok)('rebuilds and round-trips', () => {
    const r = decode(f)
    if (!r.ok) throw new Error(r.reason)
    const key = keyOf(f)
    const pad = f.pad === undefined ? undefined : (unescapeFrame(f.pad) as { value: Buffer }).value
    const built = rebuild(r.value, key, pad)
    if (f.canonical === true) expect(escapeFrame(built)).toBe(escapeFrame(frameBytes(f.bytes)))
    const again = decodeFrame(built, { profile: { key } })
    expect(again.ok).toBe(true)
    if (again.ok) {
      const { quirks: _q, ...rest } = view(r.value)
      expect(view(again.value)).toMatchObject(rest)
    }
  })

  it.runIf(f.expect.ok)('keeps every event through the journal\'s compact form, in fewer bytes', () => {
    const r = decode(f)
    if (!r.ok) throw new Error(r.reason)
    const c = compactEvents(r.value.events)
    expect(c === undefined).toBe(r.value.events.length === 0)
    const back = expandEvents(JSON.parse(JSON.stringify(c ?? null)) as CompactEvents | null)
    expect(back).toEqual(r.value.events)
    // The same text too: what an export prints is what it printed when events were kept in full.
    expect(JSON.stringify(back)).toBe(JSON.stringify(r.value.events))
    if (c !== undefined) expect(JSON.stringify(c).length).toBeLessThan(JSON.stringify(r.value.events).length)
  })

  it.runIf(f.expect.ok)('comes whole out of the splitter, split at every offset and byte by byte', () => {
    const frame = frameBytes(f.bytes)
    const run = (chunks: Buffer[]) => {
      const out: Buffer[] = []
      const s = new FrameSplitter({ frame: (b) => out.push(Buffer.from(b)), error: () => {} })
      for (const c of chunks) s.push(c)
      s.end()
      return out
    }
    const next = Buffer.from('\n189F0029"NULL"0000R1L1#9413[]_17:01:50,09-07-2023\r', 'latin1')
    for (let cut = 1; cut < frame.length; cut++) {
      const out = run([frame.subarray(0, cut), Buffer.concat([frame.subarray(cut), next])])
      expect(out.map(escapeFrame), `cut at ${cut}`).toEqual([escapeFrame(frame), escapeFrame(next)])
    }
    const bytes = [...Buffer.concat([frame, next])].map((b) => Buffer.from([b]))
    expect(run(bytes).map(escapeFrame)).toEqual([escapeFrame(frame), escapeFrame(next)])
  })
})

describe.each(fixtures.filter((f) => f.answer === true))('answer $name', (f) => {
  it('parses as the receiver answer it is, and rebuilds', () => {
    const p = parseFrame(frameBytes(f.bytes))
    expect(p.ok).toBe(true)
    if (!p.ok) return
    const key = keyOf(f)
    const content = p.value.encrypted ? (key === undefined ? undefined : openPayload(p.value, key)) : readContent(p.value.payload, 0)
    const e = absentAsUndefined(f.expect) as Record<string, unknown>
    expect({ token: p.value.token, encrypted: p.value.encrypted, seq: p.value.seq, rcvr: p.value.rcvr, lpref: p.value.lpref, acct: p.value.acct, crcForm: p.value.crcForm })
      .toMatchObject(Object.fromEntries(Object.entries(e).filter(([k]) => ['token', 'encrypted', 'seq', 'rcvr', 'lpref', 'acct', 'crcForm'].includes(k))))
    if (content?.ok === true && e.panelTime !== undefined) expect(new Date(content.value.panelTime!).toISOString()).toBe(e.panelTime)
    if (content?.ok === true && f.canonical === true) {
      const rebuilt = serializeFrame({
        token: p.value.token, encrypted: p.value.encrypted, seq: p.value.seq, rcvr: p.value.rcvr, lpref: p.value.lpref, acct: p.value.acct,
        acctMarker: p.value.token === 'NAK' ? 'A' : '#', data: content.value.data, timestamp: content.value.panelTime, crcForm: p.value.crcForm,
      }, { key, pad: content.value.pad })
      expect(escapeFrame(rebuilt)).toBe(escapeFrame(frameBytes(f.bytes)))
    }
  })
})

describe('every fixture, through the receiver over a duplex pair', () => {
  it.each(fixtures.filter((f) => f.answer !== true))('$name gets the answer its decode asks for', async (f) => {
    const { duplexPair } = await import('node:stream')
    const { MemoryAccountStore } = await import('../src/accounts/memory-store.js')
    const { MemoryJournal } = await import('../src/journal/memory-journal.js')
    const { Receiver } = await import('../src/receiver/receiver.js')
    const { Connection } = await import('../src/receiver/connection.js')
    const { createLogger } = await import('../src/log.js')
    const { defaultOptions } = await import('../src/receiver/options.js')
    const expected = f.expect as { ok: boolean, account?: string, panelTime?: string | null, encrypted?: boolean, reply?: string, code?: string }
    const accounts = new MemoryAccountStore()
    // The account the frame names, registered as the fixture describes it.
    const account = expected.account ?? decodeAccount(f)
    if (account !== undefined && account.length >= 3) {
      const r = accounts.add({ account, ...(f.key === undefined ? {} : { key: f.key, keyFormat: f.keyFormat ?? 'hex' }), encryptionRequired: false })
      if (!r.ok) throw new Error(r.reason)
    }
    const journal = new MemoryJournal<import('../src/journal/record.js').FrameRecord>()
    const at = typeof expected.panelTime === 'string' ? Date.parse(expected.panelTime) : Date.UTC(2024, 0, 15, 12)
    const options = { ...defaultOptions }
    const receiver = new Receiver({ journal, accounts, logger: createLogger({ level: 'silent' }), options, clock: () => at })
    const [panel, side] = duplexPair()
    const conn = new Connection(side, { transport: 'tcp', address: 'fixture', peer: 'fixture:1' }, receiver, options, createLogger({ level: 'silent' }), () => {})
    const got: Buffer[] = []
    panel.on('data', (c: Buffer) => got.push(c))
    // The panel sends its frame and ends its side: a frame whose length field claims more bytes
    // than came is only known to be cut short then (on a live connection, at the slow-frame timeout).
    panel.write(f.bytes)
    panel.end()
    await new Promise((r) => setTimeout(r, 20))
    await conn.shutdown()
    const answer = Buffer.concat(got).toString('latin1')
    const records: unknown[] = []
    for await (const r of journal.read()) records.push(r)
    if (expected.ok) {
      expect(answer).toMatch(expected.encrypted === true ? /"\*ACK"/ : /"ACK"/)
      expect(records).toHaveLength(1)
    } else {
      expect(records).toHaveLength(0)
      if (expected.reply === 'NAK') expect(answer).toContain('"NAK"')
      if (expected.reply === 'DUH') expect(answer).toContain('"DUH"')
      if (expected.reply === 'none') expect(answer).toBe('')
    }
  })
})

/** The header account of a fixture frame, for rejection fixtures whose expectation does not name it. */
function decodeAccount (f: Fixture): string | undefined {
  const m = /#([0-9A-Za-z]{3,16})\[/.exec(f.bytes.toString('latin1'))
  return m?.[1]
}
