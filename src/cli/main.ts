#!/usr/bin/env node
/** The `dc09` command: parses arguments and calls into src/*, nothing else. */
import { createInterface } from 'node:readline'
import { Command, Option } from 'commander'
import { isCharset, isTimeZone, type AesEngineName, type AesKey, type KeyFormat, type PanelClock, type TimestampWindow } from '../protocol/index.js'
import { runDecode } from './commands/decode.js'
import { loadKey, packageVersion, parseNow, parseSeconds, parseWindow } from './options.js'

export function buildProgram (): Command {
  const program = new Command()
    .name('dc09')
    .description('SIA DC-09 alarm receiver toolkit')
    .version(packageVersion())
    .showHelpAfterError()

  program.command('decode')
    .description('decode DC-09 frames from stdin, one per line (C-style escapes, or --hex), to one JSON object per line')
    .option('--key-file <file>', 'AES key for encrypted frames (else the DC09_KEY environment variable)')
    .addOption(new Option('--key-format <format>', 'how the key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--now <iso>', 'receiver time for the timestamp window check (skipped without it)', parseNow)
    .option('--window <+ahead,-behind>', 'timestamp window in seconds', parseWindow, { ahead: 20, behind: 40 })
    .option('--clock-offset <seconds>', 'the panel clock runs this many seconds ahead of UTC', parseSeconds)
    .option('--time-zone <zone>', 'the panel sends local time in this IANA zone')
    .option('--charset <name>', 'charset of text in the frame (default: UTF-8 if valid, else Windows-1252)', 'auto')
    .addOption(new Option('--aes <engine>', 'AES implementation').choices(['node', 'aes-js']).default('node'))
    .option('--hex', 'input lines are the hex of whole frames')
    .action(async (o: {
      keyFile?: string, keyFormat: KeyFormat, now?: number, window: TimestampWindow, clockOffset?: number,
      timeZone?: string, charset: string, aes: AesEngineName, hex?: boolean
    }) => {
      if (!isCharset(o.charset)) program.error(`error: unknown charset ${JSON.stringify(o.charset)}`, { exitCode: 2 })
      if (o.timeZone !== undefined && !isTimeZone(o.timeZone)) program.error(`error: unknown time zone ${JSON.stringify(o.timeZone)}`, { exitCode: 2 })
      let key: AesKey | undefined
      try {
        key = loadKey(o.keyFile, o.keyFormat, o.aes)
      } catch (err) {
        program.error(`error: ${(err as Error).message}`, { exitCode: 2 })
      }
      const clock: PanelClock | undefined = o.timeZone !== undefined
        ? { timeZone: o.timeZone }
        : o.clockOffset !== undefined ? { offsetSeconds: o.clockOffset } : undefined
      const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
      await runDecode(lines, { key, now: o.now, window: o.window, hex: o.hex, charset: o.charset, clock }, (s) => process.stdout.write(s))
    })

  return program
}

await buildProgram().parseAsync(process.argv)
