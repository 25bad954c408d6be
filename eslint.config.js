// Lint: neostandard, the standard style (no semicolons, two spaces, single quotes, a space
// before function parentheses) with TypeScript support, as ESLint 9 flat config. The code is
// written in that style; biome was the other candidate, but its formatter follows Prettier
// (no space before function parentheses) and its rule set differs, so it would restyle the
// whole code base instead of checking the style it has.
//
// `npm run lint` checks src, test, bench, scripts, examples and these configuration files;
// built output, coverage reports and the generated code tables are not linted.
import neostandard from 'neostandard'

// neostandard's own options, plus `_`-names for values deliberately not used (a loop that only
// counts, a rest sibling): the convention TypeScript's noUnusedLocals follows too.
const unusedVars = ['error', { args: 'none', caughtErrors: 'none', ignoreRestSiblings: true, vars: 'all', varsIgnorePattern: '^_' }]

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', 'src/protocol/codes/*.generated.ts'] }),
  {
    rules: {
      // Records, route tables and test expectations group related fields on one line; one
      // property per line would stretch a 20-field record over 20 lines and catches no error.
      '@stylistic/object-property-newline': 'off',
      // Kept to catch swapped or misnamed resolve/reject; the one-letter `r` of a one-line sleep
      // or listen, `done`, and `_` for an unused resolve are as clear.
      'promise/param-names': ['error', { resolvePattern: '^_?(resolve|r|done)?$', rejectPattern: '^_?reject$' }],
      // `void promise` as a statement marks a promise deliberately not awaited; void inside an
      // expression is still refused.
      'no-void': ['error', { allowAsStatement: true }],
      // Its hits are polling loops whose flag another async task (a callback, an awaited
      // sampler) changes; the rule cannot see across awaits, so every hit is a false alarm.
      'no-unmodified-loop-condition': 'off',
      // Control characters in a regular expression are the point wherever they appear here:
      // names and output are checked for them.
      'no-control-regex': 'off',
      // aes-js names its mode constructors in lower case (ModeOfOperation.ecb / .cbc).
      'new-cap': ['error', { newIsCap: true, capIsNew: false, properties: true, newIsCapExceptionPattern: '^aesjs\\.ModeOfOperation\\.' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: { 'no-unused-vars': unusedVars },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': unusedVars,
      // A constant object and the union type derived from it share one name by design
      // (`ErrorCode`); TypeScript itself reports a real redeclaration.
      '@typescript-eslint/no-redeclare': 'off',
    },
  },
  {
    // Constructed only for their effect: prom-client registers a metric in its constructor, and
    // Intl validates a time zone name only by constructing a formatter with it.
    files: ['src/**/metrics*.ts', 'src/protocol/timestamp.ts'],
    rules: { 'no-new': 'off' },
  },
]
