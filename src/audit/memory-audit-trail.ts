/** The audit trail in memory, for tests: the same contract as SqliteAuditTrail. */
import type { AuditEntry, AuditRow, AuditTrail } from './audit-trail.js'

export class MemoryAuditTrail implements AuditTrail {
  readonly #rows: AuditRow[] = []

  append (entry: AuditEntry): number {
    const id = this.#rows.length + 1
    this.#rows.push({ id, ...entry })
    return id
  }

  page (limit: number, before?: number): AuditRow[] {
    const n = Math.max(0, Math.floor(limit))
    // Ids are 1..length, so the rows below `before` end at index before - 1.
    const end = before === undefined ? this.#rows.length : Math.max(0, Math.min(this.#rows.length, Math.ceil(before) - 1))
    return this.#rows.slice(Math.max(0, end - n), end).reverse()
  }

  close (): void {}
}
