/** Protocol core on one core: parse, decrypt, build answers, split streams. */
import {
  FrameSplitter, aesEngine, decodeFrame, openPayload, parseFrame, parseKey, readContent, serializeAck, serializeEncryptedAck,
  serializeFrame, type AesEngineName, type AesKey,
} from '../../src/protocol/index.js'
import { measureAll, type Case, type Result } from '../harness.js'

export interface MicroCase {
  readonly result: Result
  /** The target in operations per second, if it sets one. */
  readonly target?: number
}

/** A neutral workload measured in the same round-robin: how fast this machine is right now. */
export const REFERENCE = 'reference: JSON.parse of a 60-byte object'

const NOW = Date.UTC(2024, 0, 15, 12)

function key (hex: string, engine: AesEngineName = 'node') {
  const k = parseKey(hex, 'hex', aesEngine(engine))
  if (!k.ok) throw new Error(k.reason)
  return k.value
}

export function runProtocolBench (log: (line: string) => void, quick = false): MicroCase[] {
  const k128 = key('0123456789ABCDEF0123456789ABCDEF')
  const k256 = key('603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4')
  const k128js = key('0123456789ABCDEF0123456789ABCDEF', 'aes-js')
  const plain = serializeFrame({ token: 'SIA-DCS', seq: 1, rcvr: '1', lpref: '0', acct: '1234', data: '#1234|Nri1/BA01', timestamp: NOW })
  const cid = serializeFrame({ token: 'ADM-CID', seq: 2, lpref: '0', acct: '1234', data: '#1234|1130 01 015', timestamp: NOW })
  const enc128 = serializeFrame({ token: 'SIA-DCS', encrypted: true, seq: 1, rcvr: '1', lpref: '0', acct: '1234', data: '#1234|Nri1/BA01', timestamp: NOW }, { key: k128 })
  const enc256 = serializeFrame({ token: 'ADM-CID', encrypted: true, seq: 42, lpref: '1', acct: '5678', data: '#5678|1401 02 003', xdata: [{ id: 'V', value: '1' }], timestamp: NOW }, { key: k256 })
  const header = { token: 'SIA-DCS', encrypted: true, seq: '0001', rcvr: '1', lpref: '0', acct: '1234', crcForm: 'hex' as const }
  const stream = Buffer.concat(Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? plain : cid)))
  const splitter = new FrameSplitter({ frame: () => {}, error: () => {} })

  const check = (ok: boolean, what: string) => { if (!ok) throw new Error(`bench input does not decode: ${what}`) }
  check(decodeFrame(plain).ok && decodeFrame(enc128, { profile: { key: k128 }, now: NOW }).ok && decodeFrame(enc256, { profile: { key: k256 }, now: NOW }).ok, 'frames')

  /** The "parse": envelope, CRC, length, then the content split into data, x-data and timestamp. */
  const parse = (frame: Buffer, k?: AesKey) => {
    const p = parseFrame(frame)
    if (!p.ok) throw new Error(p.reason)
    const c = k === undefined ? readContent(p.value.payload, 0) : openPayload(p.value, k)
    if (!c.ok) throw new Error(c.reason)
    return c
  }

  const targets = new Map<string, number>()
  const cases: Case[] = []
  const add = (name: string, fn: () => unknown, target?: number, perCall?: number) => {
    cases.push(perCall === undefined ? { name, fn } : { name, fn, perCall })
    if (target !== undefined) targets.set(name, target)
  }
  const json = '{"account":"1234","seq":1,"code":"BA","zone":1,"area":1,"x":true}'
  add(REFERENCE, () => JSON.parse(json))
  add(`plain SIA-DCS ${plain.length} B: parse with CRC`, () => parse(plain), 1_500_000)
  add(`AES-128 SIA-DCS ${enc128.length} B: parse with decrypt`, () => parse(enc128, k128), 400_000)
  add(`AES-256 ADM-CID ${enc256.length} B: parse with decrypt`, () => parse(enc256, k256), 400_000)
  add('AES-128 SIA-DCS: parse with decrypt, aes-js engine', () => parse(enc128, k128js))
  add('plain SIA-DCS: full decode (+ events, code tables)', () => decodeFrame(plain, { now: NOW }))
  add(`plain ADM-CID ${cid.length} B: full decode (+ events, code tables)`, () => decodeFrame(cid, { now: NOW }))
  add('AES-128 SIA-DCS: full decode (+ window, events)', () => decodeFrame(enc128, { profile: { key: k128 }, now: NOW }))
  add('plain ACK: serializeAck', () => serializeAck(header))
  add('encrypted *ACK (AES-128): serializeEncryptedAck', () => serializeEncryptedAck(header, k128, NOW), 300_000)
  add('splitter: 64 frames per 4 KiB chunk (frames/s)', () => splitter.push(stream), undefined, 64)
  log(`measuring ${cases.length} cases, interleaved...`)
  const results = measureAll(cases, quick ? { samples: 3, sampleMs: 50, warmupMs: 100 } : {}).map((result) => {
    log(`${result.name}: ${Math.round(result.opsPerSec).toLocaleString('en-US')}/s ±${result.spreadPct.toFixed(1)}%`)
    const target = targets.get(result.name)
    return target === undefined ? { result } : { result, target }
  })
  return results
}
