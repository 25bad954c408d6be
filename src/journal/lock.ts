/**
 * One writer per data directory. The lock is an operating-system file lock, taken through
 * SQLite's exclusive locking mode on `DIR/lock.db` (better-sqlite3 is already a dependency, and
 * Node has no flock): the kernel releases it when the holder exits, however it exits, so a crash
 * or SIGKILL leaves no stale lock and no two processes can ever hold it at once. The holder's
 * pid is written beside it, for the message a second `dc09 serve` prints.
 */
import { chmodSync, closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

export class DataDirLockedError extends Error {
  readonly code = 'DC09_ERR_LOCKED'
}

export interface DirLock {
  readonly path: string
  release (): void
}

export function lockDataDir (dir: string, what = 'the journal'): DirLock {
  const path = join(dir, 'lock.db')
  const infoPath = join(dir, 'LOCK')
  // Made 0600 before SQLite opens it: SQLite gives its side files (-journal) the same mode.
  // Only when it does not exist yet: closing any descriptor of a file drops every POSIX lock this
  // process holds on it, so an existing lock.db is never opened here (its lock may be ours).
  try {
    closeSync(openSync(path, 'wx', 0o600))
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err
  }
  // A lock.db made by an older version; another user's file is left as it is (the lock says who holds it).
  try { chmodSync(path, 0o600) } catch (err) { if ((err as { code?: string }).code !== 'EPERM') throw err }
  const db = new Database(path)
  try {
    db.pragma('busy_timeout = 0')
    db.pragma('locking_mode = EXCLUSIVE')
    // The first write takes the exclusive lock; in this mode it is kept until the connection closes.
    db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); COMMIT')
  } catch (err) {
    db.close()
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err
    let holder = 'another process'
    try {
      const info = JSON.parse(readFileSync(infoPath, 'utf8')) as { pid?: number, since?: string }
      if (typeof info.pid === 'number') holder = `process ${info.pid} (since ${info.since ?? '?'})`
    } catch { /* the holder has not written its pid yet */ }
    throw new DataDirLockedError(`${dir} is in use: ${what} is held by ${holder}; stop it first, or use another --data directory`)
  }
  writeFileSync(infoPath, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }) + '\n', { mode: 0o600 })
  let released = false
  return {
    path,
    release () {
      if (released) return
      released = true
      try { unlinkSync(infoPath) } catch { /* gone already */ }
      db.close()
    },
  }
}
