/**
 * What every Journal implementation must do. Run against each with `journalSuite(name, factory)`.
 */
import { describe, expect, it } from 'vitest'
import type { Journal } from '../../src/journal/journal.js'

export interface Rec { readonly n: number, readonly text?: string }

export function journalSuite (name: string, open: () => Promise<{ journal: Journal<Rec>, reopen?: () => Promise<Journal<Rec>>, cleanup?: () => void }>): void {
  describe(`${name} (journal conformance)`, () => {
    it('gives monotonic ids and reads back in order', async () => {
      const { journal, cleanup } = await open()
      const ids = await Promise.all([1, 2, 3].map((n) => journal.append({ n })))
      expect(ids).toEqual([...ids].sort((a, b) => a - b))
      expect(new Set(ids).size).toBe(3)
      expect(journal.lastId).toBe(ids[2])
      const got: Rec[] = []
      for await (const r of journal.read()) got.push(r)
      expect(got.map((r) => r.n)).toEqual([1, 2, 3])
      await journal.close()
      cleanup?.()
    })

    it('resolves an append only once its record is readable', async () => {
      const { journal, cleanup } = await open()
      const id = await journal.append({ n: 7, text: 'caf\u00e9' })
      const got = []
      for await (const r of journal.read(id)) got.push(r)
      expect(got).toEqual([{ n: 7, text: 'caf\u00e9', id }])
      await journal.close()
      cleanup?.()
    })

    it('reads from a cursor', async () => {
      const { journal, cleanup } = await open()
      const ids: number[] = []
      for (let n = 0; n < 20; n++) ids.push(await journal.append({ n }))
      const got = []
      for await (const r of journal.read(ids[15])) got.push(r.n)
      expect(got).toEqual([15, 16, 17, 18, 19])
      await journal.close()
      cleanup?.()
    })

    it('follows the journal with a reader that keeps its place', async () => {
      const { journal, cleanup } = await open()
      for (let n = 0; n < 5; n++) await journal.append({ n })
      const reader = journal.reader(3)
      expect((await reader.next(100)).map((r) => r.n)).toEqual([2, 3, 4])
      expect(await reader.next(100)).toEqual([])
      const more = []
      for (let n = 5; n < 40; n++) more.push(journal.append({ n, text: 'x'.repeat(n) }))
      await Promise.all(more)
      const got: number[] = []
      for (let batch = await reader.next(7); batch.length > 0; batch = await reader.next(7)) {
        expect(batch.length).toBeLessThanOrEqual(7)
        got.push(...batch.map((r) => r.n))
      }
      expect(got).toEqual(Array.from({ length: 35 }, (_, i) => 5 + i))
      await reader.close()
      await journal.close()
      cleanup?.()
    })

    it('reads backwards from the newest record', async () => {
      const { journal, cleanup } = await open()
      for (let n = 0; n < 25; n++) await journal.append({ n })
      const got: number[] = []
      for await (const r of journal.readBackwards()) {
        got.push(r.n)
        if (got.length === 12) break
      }
      expect(got).toEqual(Array.from({ length: 12 }, (_, i) => 24 - i))
      await journal.close()
      cleanup?.()
    })

    it('commits many concurrent appends, every one of them', async () => {
      const { journal, cleanup } = await open()
      const ids = await Promise.all(Array.from({ length: 500 }, (_, n) => journal.append({ n })))
      expect(new Set(ids).size).toBe(500)
      const read = new Set<number>()
      for await (const r of journal.read()) read.add(r.n)
      expect(read.size).toBe(500)
      await journal.close()
      cleanup?.()
    })

    it('commits what is pending on close, then refuses appends', async () => {
      const { journal, reopen, cleanup } = await open()
      const p = journal.append({ n: 1 })
      await journal.close()
      await expect(p).resolves.toBeGreaterThan(0)
      await expect(journal.append({ n: 2 })).rejects.toThrow(/closed/)
      if (reopen !== undefined) {
        const again = await reopen()
        const got = []
        for await (const r of again.read()) got.push(r.n)
        expect(got).toEqual([1])
        const id = await again.append({ n: 3 })
        expect(id).toBeGreaterThan(await p)
        await again.close()
      }
      cleanup?.()
    })
  })
}
