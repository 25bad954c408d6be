/**
 * The audit trail: who did what, on which account, with what outcome, and from where. Rows are
 * only ever appended, each with an id that grows, and read back newest first in pages. A row never
 * holds a secret (no code, token or pepper): callers write what happened, not what was presented.
 */

/** One row as written. */
export interface AuditEntry {
  /** When (ISO 8601). */
  readonly at: string
  readonly actor: string
  readonly action: string
  readonly account: string | null
  readonly outcome: string | null
  readonly user: number | null
  readonly detail: string | null
  /** Where the request came from (the HTTP interface's client address); null for a command. */
  readonly source: string | null
}

/** One row as read back, with its id. */
export interface AuditRow extends AuditEntry {
  readonly id: number
}

export interface AuditTrail {
  /** Appends a row; returns its id, greater than every id before it. */
  append (entry: AuditEntry): number
  /**
   * The newest rows first: up to `limit` of those with an id below
   * `before` (all when absent). The id of a page's last row is the `before` of the next page.
   */
  page (limit: number, before?: number): AuditRow[]
  close (): void
}
