/**
 * The benchmark's bare baseline: TCP and UDP on one port, answering each CR-terminated line with
 * a fixed 30-byte line and doing nothing else. What the machine does for the same load without
 * a receiver: the limit the receiver is measured against. Prints its port on stdout.
 */
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'

const ANSWER = Buffer.from('\n0000001E"ACK"0000L0#000[]xxxx\r'.slice(0, 29) + '\r', 'latin1')

const tcp = createServer({ noDelay: true }, (s) => {
  s.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(0x0d); i >= 0; i = chunk.indexOf(0x0d, i + 1)) s.write(ANSWER)
  })
  s.on('error', () => {})
})
tcp.listen(0, '127.0.0.1', () => {
  const port = (tcp.address() as { port: number }).port
  const udp = createSocket('udp4')
  udp.on('message', (_m, r) => udp.send(ANSWER, r.port, r.address))
  udp.bind(port, '127.0.0.1', () => process.stdout.write(`${port}\n`))
})
process.on('SIGTERM', () => process.exit(0))
