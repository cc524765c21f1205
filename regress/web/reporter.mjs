// node --test reporter printing this project's regress format: one line
// "ok NAME" or "not ok NAME: why" per test, NAME being the test file's base
// name and the test's name (suites joined with "/"). regress/run counts them.
import { basename } from 'node:path';

const oneLine = (text) => String(text).replace(/\s+/g, ' ').trim().slice(0, 300);

function why(data, stderr) {
  const error = data.details?.error;
  // A file that failed outside any test (syntax error, failed import): its
  // only trace is the child's stderr; take the line naming the error.
  if (data.name === data.file) {
    const line = (stderr.get(data.file) ?? []).find((l) => /^\w*Error\b/.test(l));
    return oneLine(line ?? `file failed (${error?.message ?? 'no reason'})`);
  }
  const cause = error?.cause;
  return oneLine(cause?.message ?? cause ?? error?.message ?? 'failed');
}

export default async function* reporter(source) {
  const stacks = new Map(); // file -> names of the tests started, by nesting
  const stderr = new Map(); // file -> stderr lines of its child process
  for await (const { type, data } of source) {
    if (type === 'test:stderr') {
      if (!stderr.has(data.file)) stderr.set(data.file, []);
      stderr.get(data.file).push(...data.message.split('\n'));
      continue;
    }
    if (type === 'test:start') {
      if (!stacks.has(data.file)) stacks.set(data.file, []);
      stacks.get(data.file)[data.nesting] = data.name;
      continue;
    }
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    if (data.details?.type === 'suite') continue; // its tests speak for it
    const file = data.file ? basename(data.file).replace(/\.test\.m?js$/, '') : 'web';
    const parents = (stacks.get(data.file) ?? []).slice(0, data.nesting);
    const name = data.name === data.file ? file : [file, ...parents, data.name].join('/');
    if (type === 'test:pass') yield `ok ${name}\n`;
    else yield `not ok ${name}: ${why(data, stderr)}\n`;
  }
}
