import { describe, expect, it } from 'vitest'
import { checkAnswer } from '../../../src/protocol/answer.js'
import { nodeAes } from '../../../src/protocol/cipher.js'
import type { FrameHeader } from '../../../src/protocol/frame.js'
import { serializeFrame } from '../../../src/protocol/frame-build.js'
import { serializeAck, serializeDuh, serializeEncryptedAck, serializeNak } from '../../../src/protocol/responses.js'

const key = nodeAes.importKey(Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'))
const sent: FrameHeader = { token: 'SIA-DCS', encrypted: false, seq: '0042', rcvr: '1', lpref: '0', acct: '1234', crcForm: 'hex' }
const NOW = Date.UTC(2024, 0, 15, 12)

describe('checkAnswer (the panel side)', () => {
  it('accepts the right ACK, DUH, *ACK and NAK', () => {
    expect(checkAnswer(serializeAck(sent), sent)).toEqual({ token: 'ACK', encrypted: false, receiverTime: undefined, problems: [] })
    expect(checkAnswer(serializeAck(sent, { timestamp: NOW }), sent).problems).toEqual([])
    expect(checkAnswer(serializeDuh(sent), sent)).toMatchObject({ token: 'DUH', problems: [] })
    const enc = { ...sent, encrypted: true }
    expect(checkAnswer(serializeEncryptedAck(enc, key, NOW), enc, key)).toEqual({ token: 'ACK', encrypted: true, receiverTime: NOW, problems: [] })
    expect(checkAnswer(serializeNak(NOW), sent)).toEqual({ token: 'NAK', encrypted: false, receiverTime: NOW, problems: [] })
  })

  it('finds every flaw: echo, token, encryption, CRC form, NAK layout', () => {
    expect(checkAnswer(serializeAck({ ...sent, seq: '0043' }), sent).problems).toEqual(['sequence 0043, sent 0042'])
    expect(checkAnswer(serializeAck({ ...sent, rcvr: undefined }), sent).problems).toEqual(['receiver (none), sent 1'])
    expect(checkAnswer(serializeAck({ ...sent, acct: '1235' }), sent).problems).toEqual(['account 1235, sent 1234'])
    expect(checkAnswer(serializeAck(sent), { ...sent, encrypted: true }, key).problems).toEqual(['a plain ACK to an encrypted frame'])
    expect(checkAnswer(serializeAck({ ...sent, crcForm: 'binary' }), sent).problems).toEqual(['answer in the binary CRC form to a hex frame'])
    const other = nodeAes.importKey(Buffer.alloc(16, 1))
    const enc = { ...sent, encrypted: true }
    expect(checkAnswer(serializeEncryptedAck(enc, key, NOW), enc, other).problems[0]).toMatch(/does not decrypt/)
    expect(checkAnswer(serializeFrame({ token: 'NAK', seq: '0001', rcvr: '0', lpref: '0', acctMarker: 'A', acct: '0' }), sent).problems)
      .toEqual(['a NAK header other than 0000R0L0A0', 'a NAK without the receiver time'])
    expect(checkAnswer(Buffer.from('\nXXXX'), sent).problems[0]).toMatch(/DC09_ERR/)
    expect(checkAnswer(serializeFrame({ ...sent, token: 'RSP' }), sent).problems).toEqual(['unexpected answer token RSP'])
  })
})
