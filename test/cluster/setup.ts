/**
 * Once for the whole cluster suite: without nats-server, every file skips its tests, and this is
 * the one line that says why.
 */
import { NATS_MISSING, natsServerPath } from './nats.js'

export default function setup (): void {
  if (natsServerPath() === undefined) console.log(NATS_MISSING)
}
