// SPDX-License-Identifier: MIT
// dockerode against sprite-env, driven by tests/e2e/test_docker.py.
//
//   node dockerode_exec.js PORT CONTAINER        (the token comes in SPRITE_E2E_TOKEN)
//
// Prints one JSON line: {"container": {...}, "hijack": {...}, "plain": {...}} where each case is
// either its results or {"error": "..."}. Exits 0 whenever it could print that line.
'use strict';

const { Writable } = require('stream');
const Docker = require('dockerode');

const port = Number(process.argv[2]);
const name = process.argv[3] || 'sprite';
const token = process.env.SPRITE_E2E_TOKEN || '';

const docker = new Docker({
  host: '127.0.0.1',
  port,
  headers: { Authorization: `Bearer ${token}` },
});

function collector() {
  const chunks = [];
  const w = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  w.text = () => Buffer.concat(chunks).toString('utf8');
  return w;
}

// Resolves when the stream has ended (or closed) and fails on an error.
function finished(stream) {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve();
      }
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', (e) => {
      if (!done) {
        done = true;
        reject(e);
      }
    });
  });
}

async function containerCase() {
  const info = await docker.getContainer(name).inspect();
  const list = await docker.listContainers();
  return {
    id: info.Id,
    name: info.Name,
    running: info.State && info.State.Running,
    listed: list.map((c) => ({ id: c.Id, names: c.Names })),
  };
}

// exec.start({hijack: true, stdin: true}): stdin written and ended (half-close), the output
// demultiplexed, then the exit code from exec.inspect().
async function hijackCase() {
  const container = docker.getContainer(name);
  const exec = await container.exec({
    Cmd: ['sh', '-c', 'cat; echo "err:$K" >&2; exit 7'],
    Env: ['K=dockerode'],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: true });
  const out = collector();
  const err = collector();
  const ended = finished(stream);
  docker.modem.demuxStream(stream, out, err);
  stream.write('hello ');
  stream.write('dockerode\n');
  stream.end();
  await ended;
  const inspect = await exec.inspect();
  return {
    id: exec.id,
    stdout: out.text(),
    stderr: err.text(),
    exitCode: inspect.ExitCode,
    running: inspect.Running,
  };
}

// exec.start({}): a plain POST, the response body read to its end.
async function plainCase() {
  const container = docker.getContainer(name);
  const exec = await container.exec({
    Cmd: ['sh', '-c', 'echo plain; echo perr >&2; exit 2'],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({});
  const out = collector();
  const err = collector();
  const ended = finished(stream);
  docker.modem.demuxStream(stream, out, err);
  await ended;
  const inspect = await exec.inspect();
  return {
    id: exec.id,
    stdout: out.text(),
    stderr: err.text(),
    exitCode: inspect.ExitCode,
    running: inspect.Running,
  };
}

async function run(fn) {
  try {
    return await fn();
  } catch (e) {
    return { error: String((e && e.stack) || e) };
  }
}

(async () => {
  const result = {
    container: await run(containerCase),
    hijack: await run(hijackCase),
    plain: await run(plainCase),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
})();
