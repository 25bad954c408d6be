/**
 * One writer per data directory: a lock file holding the owner's pid. A second `dc09 serve` on
 * the same directory refuses to start and says who holds it; a lock left by a process that no
 * longer runs (a crash, SIGKILL) is taken over.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'

export class DataDirLockedError extends Error {
  readonly code = 'DC09_ERR_LOCKED'
}

interface LockInfo {
  readonly pid: number
  readonly host: string
  readonly since: string
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface DirLock {
  readonly path: string
  release (): void
}

export function lockDataDir (dir: string, what = 'the journal'): DirLock {
  const path = join(dir, 'LOCK')
  const info: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString() }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, JSON.stringify(info) + '\n', { flag: 'wx', mode: 0o600 })
      let released = false
      return {
        path,
        release () {
          if (released) return
          released = true
          try { unlinkSync(path) } catch { /* already gone */ }
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let held: Partial<LockInfo> = {}
      try { held = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo> } catch { /* unreadable: treat as stale */ }
      if (typeof held.pid === 'number' && held.host === info.host && held.pid !== process.pid && alive(held.pid)) {
        throw new DataDirLockedError(`${dir} is in use: ${what} is held by process ${held.pid} (since ${held.since ?? '?'}); stop it first, or use another --data directory`)
      }
      // Stale: the holder is gone. Remove it and try once more.
      try { unlinkSync(path) } catch { /* raced with another taker */ }
    }
  }
  throw new DataDirLockedError(`${dir}: could not take the lock at ${path}`)
}
