/** Both VerificationStore backends against the one conformance suite. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { MemoryAuditTrail } from '../../../src/audit/memory-audit-trail.js'
import { MemoryVerificationStore } from '../../../src/verification/memory-store.js'
import { SqliteVerificationStore } from '../../../src/verification/sqlite-store.js'
import { Verifier, type VerificationEvent } from '../../../src/verification/verifier.js'
import { verificationStoreSuite } from '../../conformance/verification-store.suite.js'

verificationStoreSuite('MemoryVerificationStore', () => ({ store: new MemoryVerificationStore() }))
verificationStoreSuite('SqliteVerificationStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-vstore-'))
  return {
    store: new SqliteVerificationStore(dir),
    reopen: () => new SqliteVerificationStore(dir),
    peer: () => new SqliteVerificationStore(dir),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
})

describe('Verifier over the memory backends', () => {
  it('enrols, verifies (valid, duress, invalid), locks, and audits, with no data directory', async () => {
    const accounts = new MemoryAccountStore()
    expect(accounts.add({ account: '1234' }).ok).toBe(true)
    const audit = new MemoryAuditTrail()
    const v = new Verifier({ store: new MemoryVerificationStore(), audit }, accounts, { pepper: Buffer.alloc(32, 3), scryptN: 16, maxFailures: 2 })
    const events: VerificationEvent[] = []
    const record = async (e: VerificationEvent): Promise<void> => { events.push(e) }
    expect(v.addUser('1234', 1, 'Ann', 'admin')).toEqual({ ok: true, value: undefined })
    expect(await v.setCode('1234', 1, '739164', false, 'admin')).toEqual({ ok: true, value: undefined })
    expect(await v.setCode('1234', 1, '582047', true, 'admin')).toEqual({ ok: true, value: undefined })
    expect(await v.setCode('1234', 1, '739164', true, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_TAKEN' })
    expect(await v.verify('1234', '739164', 'op', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
    expect(await v.verify('1234', '582047', 'op', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
    expect(await v.verify('9999', '739164', 'op', record)).toEqual({ result: 'invalid', account: '9999' })
    expect(await v.verify('1234', '204851', 'op', record)).toEqual({ result: 'invalid', account: '1234' })
    expect(await v.verify('1234', '204851', 'op', record)).toEqual({ result: 'invalid', account: '1234' })
    expect(await v.verify('1234', '739164', 'op', record)).toMatchObject({ result: 'locked' })
    expect(events.map((e) => e.kind)).toEqual(['verification', 'duress', 'verification', 'verification', 'verification', 'verification'])
    expect(v.auditTrail(6).map((r) => r.outcome).reverse()).toEqual(['valid', 'duress', 'invalid', 'invalid', 'invalid', 'locked'])
    expect(v.resetAll('admin')).toBe(1)
    expect(v.needsNewCodes('1234')).toBe(true)
    v.close()
  })

  it('refuses another pepper than the one the store has seen', () => {
    const store = new MemoryVerificationStore()
    const accounts = new MemoryAccountStore()
    new Verifier({ store, audit: new MemoryAuditTrail() }, accounts, { pepper: Buffer.alloc(32, 1), scryptN: 16 }).close()
    expect(() => new Verifier({ store, audit: new MemoryAuditTrail() }, accounts, { pepper: Buffer.alloc(32, 2), scryptN: 16 })).toThrow(expect.objectContaining({ code: 'DC09_ERR_PEPPER_MISMATCH' }))
  })
})
