import { expect, it } from 'vitest'
import { fileLimitWarning, parseFileLimit } from '../../../src/receiver/file-limit.js'

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
`

it('reads the soft limit on open files from /proc/self/limits', () => {
  expect(parseFileLimit(LIMITS)).toBe(1024)
  expect(parseFileLimit(LIMITS.replace('1024   ', 'unlimited'))).toBeUndefined()
  expect(parseFileLimit('')).toBeUndefined()
  expect(parseFileLimit('Max open files  lots  lots  files')).toBeUndefined()
})

it('warns when maxConnections and the files the process needs besides do not fit the file limit', () => {
  expect(fileLimitWarning(100_000, 1024)).toMatchObject({ maxConnections: 100_000, fileLimit: 1024, connectionsThatFit: 1024 - 256 })
  expect(fileLimitWarning(768, 1024)).toBeUndefined()
  expect(fileLimitWarning(769, 1024)).toBeDefined()
  expect(fileLimitWarning(100_000, undefined)).toBeUndefined()
})
