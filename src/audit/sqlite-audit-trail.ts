/** The audit trail in SQLite: the `audit` table of the data directory's accounts.db. */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { AuditEntry, AuditRow, AuditTrail } from './audit-trail.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  account TEXT, outcome TEXT, user INTEGER, detail TEXT, source TEXT
);
`

export class SqliteAuditTrail implements AuditTrail {
  readonly #db: Database.Database
  readonly #append: Database.Statement<[string, string, string, string | null, string | null, number | null, string | null, string | null]>
  readonly #page: Database.Statement<[number, number], AuditRow>

  constructor (dataDir: string) {
    this.#db = new Database(join(dataDir, 'accounts.db'))
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('busy_timeout = 5000')
    this.#db.exec(SCHEMA)
    // Rows say where a request came from since the HTTP interface; older directories gain the column.
    if (!(this.#db.prepare('PRAGMA table_info(audit)').all() as Array<{ name: string }>).some((c) => c.name === 'source')) {
      try { this.#db.exec('ALTER TABLE audit ADD COLUMN source TEXT') } catch (err) { if (!/duplicate column/i.test((err as Error).message)) throw err }
    }
    this.#append = this.#db.prepare('INSERT INTO audit (at, actor, action, account, outcome, user, detail, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    this.#page = this.#db.prepare('SELECT id, at, actor, action, account, outcome, user, detail, source FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?')
  }

  append (e: AuditEntry): number {
    return Number(this.#append.run(e.at, e.actor, e.action, e.account, e.outcome, e.user, e.detail, e.source).lastInsertRowid)
  }

  page (limit: number, before?: number): AuditRow[] {
    return this.#page.all(before ?? Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(limit)))
  }

  close (): void {
    this.#db.close()
  }
}
