/** What every PipelineStore must do. Run against each with `pipelineStoreSuite(name, open)`. */
import { describe, expect, it } from 'vitest'
import { Batch, type DeadLetter, type PipelineStore } from '../../src/pipeline/pipeline-store.js'

export interface OpenedPipelineStore {
  readonly store: PipelineStore
  /** For a durable backend: the same state opened again (after `store` was closed). */
  readonly reopen?: () => PipelineStore
  readonly cleanup?: () => void
}

const dead = (id: number, more: Partial<DeadLetter> = {}): DeadLetter => ({ id, stage: 'a', timer: '', error: 'failed', attempts: 3, at: '2026-01-01T00:00:00.000Z', ...more })

/** Commits `values` as stage `stage`'s keys. */
function put (s: PipelineStore, stage: string, values: Record<string, unknown>): void {
  const b = new Batch()
  const view = s.state(stage, [b])
  for (const [k, v] of Object.entries(values)) view.set(k, v)
  s.commit(b, undefined)
}

export function pipelineStoreSuite (name: string, open: () => OpenedPipelineStore): void {
  describe(`${name} (pipeline store conformance)`, () => {
    const withStore = (fn: (s: PipelineStore) => void) => () => {
      const { store, cleanup } = open()
      try { fn(store) } finally { store.close(); cleanup?.() }
    }

    describe('cursors', () => {
      it('start at 0, and move only with a commit that names them', withStore((s) => {
        expect(s.cursor()).toBe(0)
        expect(s.cursor('main:emitted')).toBe(0)
        s.commit(new Batch(), 5, 7)
        expect(s.cursor()).toBe(5)
        expect(s.cursor('main:emitted')).toBe(7)
        s.commit(new Batch(), undefined)
        expect(s.cursor()).toBe(5)
        s.commit(new Batch(), 3, undefined, 'output')
        expect(s.cursor('output')).toBe(3)
        expect(s.cursor()).toBe(5)
        expect(s.cursor('main:emitted')).toBe(7)
      }))
    })

    describe('state', () => {
      it('shows a stage its pending writes over what is committed, and only its own', withStore((s) => {
        put(s, 'a', { k: 'committed' })
        put(s, 'b', { k: 'b' })
        const event = new Batch()
        const attempt = new Batch()
        const view = s.state('a', [attempt, event])
        expect(view.get('k')).toBe('committed')
        s.state('a', [event]).set('k', 'event')
        expect(view.get('k')).toBe('event')
        view.set('k', 'attempt')
        expect(view.get('k')).toBe('attempt')
        expect(s.state('a', [event]).get('k')).toBe('event')
        view.delete('k')
        expect(view.get('k')).toBeUndefined()
        expect(s.state('b', [attempt, event]).get('k')).toBe('b')
        // Nothing pending is committed: the read-only reads see the committed state only.
        expect(s.read('a', '')).toEqual([['k', 'committed']])
        expect(s.readOne('a', 'k')).toBe('committed')
        expect(s.readOne('a', 'missing')).toBeUndefined()
        expect(s.readOne('c', 'k')).toBeUndefined()
      }))

      it('round-trips JSON values of every kind, and deletes a key with a commit', withStore((s) => {
        const values = { n: 42, f: -1.5, t: 'caf\u00e9 \u2014 "x"', b: false, nul: null, arr: [1, 'two', { three: 3 }], obj: { nested: { deep: true } } }
        put(s, 'a', values)
        for (const [k, v] of Object.entries(values)) expect(s.readOne('a', k)).toEqual(v)
        const b = new Batch()
        s.state('a', [b]).delete('n')
        s.commit(b, undefined)
        expect(s.readOne('a', 'n')).toBeUndefined()
        expect(s.state('a', [new Batch()]).get('n')).toBeUndefined()
        expect(s.read('a', '').map(([k]) => k)).toEqual(['arr', 'b', 'f', 'nul', 'obj', 't'])
      }))

      it('lists keys under a prefix and in a range, in key order, committed and pending merged, deleted ones left out', withStore((s) => {
        put(s, 'a', { 'x:2': 2, 'x:4': 4, 'y:1': 'other prefix', 'x:5': 5 })
        const pending = new Batch()
        const view = s.state('a', [pending])
        view.set('x:3', 3)
        view.set('x:1', 1)
        view.delete('x:4')
        view.set('x:2', 22)
        expect(view.list('x:')).toEqual([['x:1', 1], ['x:2', 22], ['x:3', 3], ['x:5', 5]])
        expect(view.range!('x:2', 'x:4')).toEqual([['x:2', 22], ['x:3', 3]])
        expect(view.range!('x:2', 'x:5')).toEqual([['x:2', 22], ['x:3', 3], ['x:5', 5]])
        expect(s.read('a', 'x:')).toEqual([['x:2', 2], ['x:4', 4], ['x:5', 5]])
        expect(s.read('a', 'z:')).toEqual([])
      }))
    })

    describe('commit (atomic: state, dead letters and cursors together)', () => {
      it('applies writes, dead letters, the cursor and the emitted mark of one batch together', withStore((s) => {
        const batch = new Batch()
        s.state('a', [batch]).set('k', { v: 1 })
        s.state('b', [batch]).set('k', { v: 2 })
        batch.dead.push(dead(7))
        expect(s.readOne('a', 'k')).toBeUndefined()
        expect(s.deadLetterCount()).toBe(0)
        s.commit(batch, 7, 9)
        expect([s.readOne('a', 'k'), s.readOne('b', 'k'), s.deadLetterCount(), s.cursor(), s.cursor('main:emitted')]).toEqual([{ v: 1 }, { v: 2 }, 1, 7, 9])
      }))

      it('replaces a dead letter with the same id, stage and timer, and lists them by time, id, stage', withStore((s) => {
        const b1 = new Batch()
        b1.dead.push(dead(7, { error: 'first', at: '2026-01-01T00:00:02.000Z' }), dead(3, { stage: 'b', at: '2026-01-01T00:00:02.000Z' }), dead(3, { stage: 'a', at: '2026-01-01T00:00:02.000Z' }))
        b1.dead.push(dead(0, { timer: 'ring', at: '2026-01-01T00:00:01.000Z' }), dead(0, { timer: 'other', at: '2026-01-01T00:00:03.000Z' }))
        s.commit(b1, undefined)
        const b2 = new Batch()
        b2.dead.push(dead(7, { error: 'second', attempts: 4, at: '2026-01-01T00:00:02.000Z' }))
        s.commit(b2, undefined)
        expect(s.deadLetterCount()).toBe(5)
        expect(s.deadLetters()).toEqual([
          dead(0, { timer: 'ring', at: '2026-01-01T00:00:01.000Z' }),
          dead(3, { stage: 'a', at: '2026-01-01T00:00:02.000Z' }),
          dead(3, { stage: 'b', at: '2026-01-01T00:00:02.000Z' }),
          dead(7, { error: 'second', attempts: 4, at: '2026-01-01T00:00:02.000Z' }),
          dead(0, { timer: 'other', at: '2026-01-01T00:00:03.000Z' }),
        ])
      }))

      it('keeps what was committed across a reopen, and nothing that was not', () => {
        const { store, reopen, cleanup } = open()
        try {
          const batch = new Batch()
          store.state('a', [batch]).set('k', { v: 1 })
          batch.dead.push(dead(7))
          store.commit(batch, 7, 9)
          const pending = new Batch()
          store.state('a', [pending]).set('k', { v: 'never committed' })
          store.state('a', [pending]).set('other', 1)
          store.close()
          if (reopen === undefined) return
          const again = reopen()
          try {
            expect(again.cursor()).toBe(7)
            expect(again.cursor('main:emitted')).toBe(9)
            expect(again.state('a', [new Batch()]).get('k')).toEqual({ v: 1 })
            expect(again.readOne('a', 'other')).toBeUndefined()
            expect(again.deadLetters()).toEqual([dead(7)])
          } finally { again.close() }
        } finally { cleanup?.() }
      })
    })

    describe('page (bounded work)', () => {
      const cases = (s: PipelineStore, n: number): void => {
        const values: Record<string, unknown> = {}
        for (let i = 1; i <= n; i++) values[`case:${String(i).padStart(4, '0')}`] = { state: i % 3 === 0 ? 'closed' : 'open', account: i % 2 === 0 ? 'A' : 'B', n: i }
        values['other:0001'] = { state: 'open' }
        // The prefix itself is not one of its keys.
        values['case:'] = { state: 'open' }
        put(s, 'cases', values)
      }

      it('reads up to `limit` entries after `after`, in key order, and says where to go on', withStore((s) => {
        cases(s, 10)
        const p1 = s.page<{ n: number }>('cases', 'case:', undefined, 4)
        expect(p1.items.map(([, v]) => v.n)).toEqual([1, 2, 3, 4])
        expect(p1.next).toBe('case:0004')
        const p2 = s.page<{ n: number }>('cases', 'case:', p1.next, 4)
        expect(p2.items.map(([, v]) => v.n)).toEqual([5, 6, 7, 8])
        const p3 = s.page<{ n: number }>('cases', 'case:', p2.next, 4)
        expect(p3.items.map(([, v]) => v.n)).toEqual([9, 10])
        expect(p3.next).toBeUndefined()
        expect(s.page('cases', 'none:', undefined, 4)).toEqual({ items: [], next: undefined })
      }))

      it('filters on fields equal, or present and unequal (`!field`), compared as strings', withStore((s) => {
        cases(s, 12)
        expect(s.page<{ n: number }>('cases', 'case:', undefined, 100, { state: 'closed' }).items.map(([, v]) => v.n)).toEqual([3, 6, 9, 12])
        expect(s.page<{ n: number }>('cases', 'case:', undefined, 100, { state: 'open', account: 'A' }).items.map(([, v]) => v.n)).toEqual([2, 4, 8, 10])
        expect(s.page<{ n: number }>('cases', 'case:', undefined, 100, { '!state': 'open' }).items.map(([, v]) => v.n)).toEqual([3, 6, 9, 12])
        // A missing field matches neither; a number is never equal to a string.
        expect(s.page('cases', 'case:', undefined, 100, { '!missing': 'x' }).items).toEqual([])
        expect(s.page('cases', 'case:', undefined, 100, { n: '3' }).items).toEqual([])
        expect(() => s.page('cases', 'case:', undefined, 100, { 'state\') OR (1': 'x' })).toThrow(/bad field/)
      }))

      it('looks at no more than `window` keys: a page may come back short, with where to go on', withStore((s) => {
        cases(s, 12)
        const p = s.page<{ n: number }>('cases', 'case:', undefined, 10, { state: 'closed' }, 5)
        expect(p.items.map(([, v]) => v.n)).toEqual([3])
        expect(p.next).toBe('case:0005')
        const q = s.page<{ n: number }>('cases', 'case:', p.next, 10, { state: 'closed' }, 5)
        expect(q.items.map(([, v]) => v.n)).toEqual([6, 9])
        expect(q.next).toBe('case:0010')
        const r = s.page<{ n: number }>('cases', 'case:', q.next, 10, { state: 'closed' }, 5)
        expect(r).toEqual({ items: [['case:0012', { state: 'closed', account: 'A', n: 12 }]], next: undefined })
      }))
    })
  })
}
