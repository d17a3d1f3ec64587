// bench.js — the ajv baseline for bench/schema.sh: validations per second of an ajv 8
// compiled validator (ajv/dist/2020 for draft 2020-12) on the same schema and instances as
// sy-schema-bench (bench/schema_bench.c), in the same output format.
//
// Usage: node bench.js [--n N] [--rounds R] SCHEMA.json VALID.json INVALID.json
'use strict';
const fs = require('fs');
const Ajv2020 = require('ajv/dist/2020').default;

let n = 200000;
let rounds = 5;
const files = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--n') n = parseInt(argv[++i], 10);
  else if (argv[i] === '--rounds') rounds = parseInt(argv[++i], 10);
  else files.push(argv[i]);
}
if (files.length !== 3) {
  console.error('usage: node bench.js [--n N] [--rounds R] SCHEMA.json VALID.json INVALID.json');
  process.exit(2);
}
const [schema, good, bad] = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));

const t0 = process.hrtime.bigint();
const first = new Ajv2020().compile(schema); // ajv's default: stop at the first error
const compileUs = Number(process.hrtime.bigint() - t0) / 1e3;
const all = new Ajv2020({ allErrors: true }).compile(schema);
console.log(`# ajv ${require('ajv/package.json').version} on node ${process.version}: ` +
  `n=${n} rounds=${rounds}, schema compiled in ${compileUs.toFixed(0)} us`);

function runCase(validate, inst, want) {
  let wrong = 0;
  for (let i = 0; i < n / 10 + 1; i++) if (validate(inst) !== want) wrong++;
  const rates = [];
  for (let r = 0; r < rounds; r++) {
    const s = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (validate(inst) !== want) wrong++;
    rates.push(n / (Number(process.hrtime.bigint() - s) / 1e9));
  }
  if (wrong) {
    console.error(`bench.js: ${wrong} validations gave the wrong verdict`);
    process.exit(1);
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rounds / 2)];
}

for (const [name, validate, inst, want] of [
  ['valid-first', first, good, true],
  ['invalid-first', first, bad, false],
  ['valid-all', all, good, true],
  ['invalid-all', all, bad, false],
]) {
  const rate = runCase(validate, inst, want);
  console.log(`case ${name} ${rate.toFixed(0)} ${(1e9 / rate).toFixed(1)}`);
}
