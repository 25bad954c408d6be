/**
 * The cluster harness against a real 3-node JetStream cluster: a replicated stream keeps an
 * acknowledged message and its duplicate window across the loss of the stream's leader.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { NATS_MISSING, natsServerPath, startCluster, startWatchdog, type NatsCluster, retry } from './nats.js'

const STREAM = 'HARNESS'
const missing = natsServerPath() === undefined

/** The process exists and is not a zombie waiting to be reaped. */
function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

describe.skipIf(missing)(missing ? NATS_MISSING : 'a 3-node JetStream cluster on 127.0.0.1', () => {
  let cluster: NatsCluster | undefined
  let nc: Awaited<ReturnType<typeof connect>> | undefined
  const pids: number[] = []

  afterAll(async () => {
    await nc?.close()
    await cluster?.stopAll()
  })

  const started = (): NatsCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start')
    return cluster
  }

  it('starts three healthy servers on free ports, none of them 4222', async () => {
    cluster = await startCluster({ nodes: 3 })
    expect(cluster.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3'])
    const ports = cluster.nodes.flatMap((n) => [n.port, n.httpPort, n.clusterPort])
    expect(new Set(ports).size).toBe(9)
    expect(ports).not.toContain(4222)
    expect(cluster.url).toBe(cluster.urls.join(','))
    for (const n of cluster.nodes) {
      expect(n.running).toBe(true)
      const pid = n.pid()
      expect(pid).toBeTypeOf('number')
      pids.push(pid as number)
      const res = await fetch(`http://127.0.0.1:${n.httpPort}/healthz`)
      expect(res.status).toBe(200)
    }
  })

  let jsm: JetStreamManager
  it('stores a message once: the same msgID again is answered duplicate', async () => {
    nc = await connect({ servers: started().urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 })
    jsm = await jetstreamManager(nc)
    await retry(() => jsm.streams.add({ name: STREAM, subjects: ['harness.>'], num_replicas: 3 }))
    const js = jetstream(nc)
    const first = await retry(() => js.publish('harness.a', 'event 1', { msgID: 'm1', expect: { streamName: STREAM } }))
    expect(first).toMatchObject({ stream: STREAM, seq: 1, duplicate: false })
    const again = await js.publish('harness.a', 'event 1', { msgID: 'm1', expect: { streamName: STREAM } })
    expect(again).toMatchObject({ stream: STREAM, seq: 1, duplicate: true })
  })

  it('names the same stream leader as the JetStream API, and a new one after the leader is killed', async () => {
    const c = started()
    const leader = await c.waitForLeader(STREAM, 10_000)
    const info = await jsm.streams.info(STREAM)
    expect(leader).toBe(info.cluster?.leader)

    await c.kill(leader)
    const dead = c.nodes.find((n) => n.name === leader)
    expect(dead?.running).toBe(false)
    expect(dead?.pid()).toBeUndefined()
    const next = await c.waitForLeader(STREAM, 15_000, leader)
    expect(next).not.toBe(leader)

    const stored = await retry(() => jsm.streams.getMessage(STREAM, { seq: 1 }))
    expect(stored?.string()).toBe('event 1')
    const js = jetstream(nc as NonNullable<typeof nc>)
    const again = await retry(() => js.publish('harness.a', 'event 1', { msgID: 'm1', expect: { streamName: STREAM } }))
    expect(again).toMatchObject({ seq: 1, duplicate: true })

    await c.restart(leader)
    expect(dead?.running).toBe(true)
    expect(await c.streamLeader(STREAM)).toBe(next)
  })

  it('keeps acknowledging with one follower frozen by stop(), until cont()', async () => {
    const c = started()
    const leader = await c.waitForLeader(STREAM, 10_000)
    // Not the client's server: a frozen server holds its connections open, and the client notices
    // only at its next ping.
    const follower = c.nodes.find((n) => n.name !== leader && n.name !== nc?.info?.server_name)
    if (follower === undefined) throw new Error('no follower')
    c.stop(follower.name)
    expect(follower.paused).toBe(true)
    expect(follower.running).toBe(true)
    const js = jetstream(nc as NonNullable<typeof nc>)
    const ack = await retry(() => js.publish('harness.b', 'event 2', { msgID: 'm2', expect: { streamName: STREAM } }))
    expect(ack).toMatchObject({ seq: 2, duplicate: false })
    expect(await c.streamLeader(STREAM)).toBe(leader)
    c.cont(follower.name)
    expect(follower.paused).toBe(false)
  })

  it('stopAll ends every server and removes the directory', async () => {
    const c = started()
    pids.push(...c.nodes.map((n) => n.pid()).filter((p) => p !== undefined))
    await nc?.close()
    await c.stopAll()
    for (const n of c.nodes) expect(n.running).toBe(false)
    for (const pid of pids) expect(alive(pid)).toBe(false)
    expect(existsSync(c.dir)).toBe(false)
  })
}, 25_000)

describe.skipIf(missing)(missing ? NATS_MISSING : 'the harness bounds', () => {
  it('refuses a payload limit that is not a size, before starting anything', async () => {
    await expect(startCluster({ nodes: 1, maxPayload: '1MB\nlisten: 0.0.0.0:4222' })).rejects.toThrow(/maxPayload must be a size/)
  })

  it('fails the start at once, quoting the log, when a server exits while starting', async () => {
    // 2.9.10 refuses a max_payload above max_pending (64MB) and exits.
    await expect(startCluster({ nodes: 1, maxPayload: '100MB' })).rejects.toThrow(/n1 exited while starting[\s\S]*max_payload/)
  })

  it('SIGKILLs every server when the guard fires, and stopAll still cleans up', async () => {
    const c = await startCluster({ nodes: 1, guardMs: 1000 })
    try {
      const node = c.nodes[0]
      const pid = node?.pid()
      expect(pid).toBeTypeOf('number')
      expect(node?.running).toBe(true)
      const deadline = Date.now() + 5000
      while (node?.running === true && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(node?.running).toBe(false)
      expect(alive(pid as number)).toBe(false)
    } finally {
      await c.stopAll()
    }
    expect(existsSync(c.dir)).toBe(false)
  })
}, 25_000)

describe('the watchdog', () => {
  it('SIGKILLs the process groups and removes the directories still tracked when its pipe closes, as when this process dies', async () => {
    const sleeper = (): number => {
      const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' })
      child.unref()
      return child.pid as number
    }
    const tracked = sleeper()
    const released = sleeper()
    const trackedDir = mkdtempSync(join(tmpdir(), 'dc09-watchdog-'))
    const releasedDir = mkdtempSync(join(tmpdir(), 'dc09-watchdog-'))
    try {
      const wd = startWatchdog()
      wd.track(tracked)
      wd.track(released)
      wd.untrack(released)
      wd.trackDir(trackedDir)
      wd.trackDir(releasedDir)
      wd.untrackDir(releasedDir)
      wd.close()
      const deadline = Date.now() + 5000
      while ((alive(tracked) || existsSync(trackedDir)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(alive(tracked)).toBe(false)
      expect(existsSync(trackedDir)).toBe(false)
      expect(alive(released)).toBe(true)
      expect(existsSync(releasedDir)).toBe(true)
    } finally {
      for (const pid of [tracked, released]) try { process.kill(pid, 'SIGKILL') } catch {}
      for (const dir of [trackedDir, releasedDir]) rmSync(dir, { recursive: true, force: true })
    }
  })
})
