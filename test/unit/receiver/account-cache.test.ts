import { describe, expect, it } from 'vitest'
import { DEFAULT_CACHE_ENTRIES } from '../../../src/accounts/sqlite-store.js'
import { defaultOptions, validateOptions } from '../../../src/receiver/options.js'

describe('accountCacheEntries', () => {
  it('defaults to the store\'s own bound, and is a whole number of at least 100', () => {
    expect(defaultOptions.accountCacheEntries).toBe(DEFAULT_CACHE_ENTRIES)
    expect(validateOptions({ accountCacheEntries: 99 }).ok).toBe(false)
    expect(validateOptions({ accountCacheEntries: 1.5e3 + 0.5 }).ok).toBe(false)
    expect(validateOptions({ accountCacheEntries: '1000' }).ok).toBe(false)
    expect(validateOptions({ accountCacheEntries: 1_000_000 })).toEqual({ ok: true, value: { accountCacheEntries: 1_000_000 } })
  })
})
