/** Both AuditTrail backends against the one conformance suite. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryAuditTrail } from '../../../src/audit/memory-audit-trail.js'
import { SqliteAuditTrail } from '../../../src/audit/sqlite-audit-trail.js'
import { auditTrailSuite } from '../../conformance/audit-trail.suite.js'

auditTrailSuite('MemoryAuditTrail', () => ({ trail: new MemoryAuditTrail() }))
auditTrailSuite('SqliteAuditTrail', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-audit-'))
  return {
    trail: new SqliteAuditTrail(dir),
    reopen: () => new SqliteAuditTrail(dir),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
})
