#!/usr/bin/env node
/** The `dc09` command. */
import { buildProgram } from './program.js'

await buildProgram().parseAsync(process.argv)
