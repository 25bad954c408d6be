/** What every AuditTrail must do. Run against each with `auditTrailSuite(name, open)`. */
import { describe, expect, it } from 'vitest'
import type { AuditEntry, AuditTrail } from '../../src/audit/audit-trail.js'

export interface OpenedTrail {
  readonly trail: AuditTrail
  /** For a durable backend: the same trail opened again (after `trail` was closed). */
  readonly reopen?: () => AuditTrail
  readonly cleanup?: () => void
}

const entry = (n: number, more: Partial<AuditEntry> = {}): AuditEntry => ({
  at: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(), actor: 'admin', action: `action-${n}`, account: null, outcome: 'ok', user: null, detail: null, source: null, ...more,
})

export function auditTrailSuite (name: string, open: () => OpenedTrail): void {
  describe(`${name} (audit trail conformance)`, () => {
    const withTrail = (fn: (t: AuditTrail, opened: OpenedTrail) => void) => () => {
      const opened = open()
      try { fn(opened.trail, opened) } finally { opened.trail.close(); opened.cleanup?.() }
    }

    it('is empty at first', withTrail((t) => {
      expect(t.page(100)).toEqual([])
      expect(t.page(100, 5)).toEqual([])
    }))

    it('gives every row an id greater than the ones before, and reads every field back as written', withTrail((t) => {
      const full: AuditEntry = { at: '2026-01-02T03:04:05.678Z', actor: 'operator:ab12', action: 'api:verify', account: '1234', outcome: 'valid', user: 7, detail: 'caf\u00e9 \u2014 "quoted"', source: '192.0.2.1' }
      const ids = [t.append(entry(1)), t.append(full), t.append(entry(3))]
      expect(ids[1]).toBeGreaterThan(ids[0]!)
      expect(ids[2]).toBeGreaterThan(ids[1]!)
      const rows = t.page(10)
      expect(rows.map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]])
      expect(rows[1]).toEqual({ id: ids[1], ...full })
      expect(rows[2]).toEqual({ id: ids[0], ...entry(1) })
    }))

    it('reads newest first, at most `limit` rows, below `before`', withTrail((t) => {
      const ids = Array.from({ length: 10 }, (_, i) => t.append(entry(i)))
      expect(t.page(3).map((r) => r.action)).toEqual(['action-9', 'action-8', 'action-7'])
      expect(t.page(3, ids[5]).map((r) => r.action)).toEqual(['action-4', 'action-3', 'action-2'])
      expect(t.page(100, ids[2]).map((r) => r.action)).toEqual(['action-1', 'action-0'])
      // Bounds: nothing below the first id; a limit of 0 or less reads nothing; a limit beyond the rows reads them all.
      expect(t.page(100, ids[0])).toEqual([])
      expect(t.page(0)).toEqual([])
      expect(t.page(-1)).toEqual([])
      expect(t.page(1000)).toHaveLength(10)
      expect(t.page(1, ids[9]! + 1000).map((r) => r.action)).toEqual(['action-9'])
    }))

    it('pages through every row exactly once, the last id of a page being the next one\'s `before`', withTrail((t) => {
      for (let i = 0; i < 23; i++) t.append(entry(i))
      const seen: string[] = []
      let before: number | undefined
      for (;;) {
        const page = t.page(5, before)
        seen.push(...page.map((r) => r.action))
        if (page.length < 5) break
        before = page.at(-1)!.id
      }
      expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => `action-${22 - i}`))
    }))

    it('keeps its rows when opened again, and goes on with greater ids', () => {
      const { trail, reopen, cleanup } = open()
      try {
        const first = trail.append(entry(1, { account: '5678', user: 2 }))
        trail.close()
        if (reopen === undefined) return
        const again = reopen()
        try {
          expect(again.page(10)).toEqual([{ id: first, ...entry(1, { account: '5678', user: 2 }) }])
          expect(again.append(entry(2))).toBeGreaterThan(first)
        } finally { again.close() }
      } finally { cleanup?.() }
    })
  })
}
