#!/usr/bin/env node
// Makes a machine ready to build, run or test livemesh: npm dependencies and the system tools the
// mesh spawns (nats-server, ffmpeg, ...). It runs before `npm install`, so it uses Node built-ins only.
//
//   node scripts/preflight.mjs               what `npm start` needs
//   node scripts/preflight.mjs --for-tests   plus what `npm test` needs (chromium, a real nats-server)
//   node scripts/preflight.mjs --docker      plus a Docker engine, a local image registry and docker-compose
//
// Prints one line per action and nothing when all is present. Exits 1, printing the command to run,
// when something is missing and cannot be installed from here (not root, or no apt-get).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = join(ROOT, 'node_modules', '.livemesh-deps-stamp');
const MIN_NODE = [20, 19];
// Debian puts nats-server and dockerd in /usr/sbin, which is not on an ordinary user's PATH.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (!['--for-tests', '--docker'].includes(a)) fail(`unknown option ${a} (use --for-tests and/or --docker)`);
}
const forTests = args.has('--for-tests');
const withDocker = args.has('--docker');

function fail(message) {
  console.error(`preflight: ${message}`);
  process.exit(1);
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    fail(`Node ${process.versions.node} is too old; livemesh needs Node >= ${MIN_NODE.join('.')} (NestJS 12 ships ESM only).`);
  }
}

// ---- npm dependencies -------------------------------------------------------------------------

/** Workspace folders from the root package.json; supports plain paths and a trailing `/*`. */
function workspaceDirs(rootPkg) {
  const list = Array.isArray(rootPkg.workspaces) ? rootPkg.workspaces : (rootPkg.workspaces?.packages ?? []);
  const dirs = [];
  for (const entry of list) {
    if (entry.endsWith('/*')) {
      const parent = join(ROOT, entry.slice(0, -2));
      if (!existsSync(parent)) continue;
      for (const name of readdirSync(parent).sort()) {
        if (existsSync(join(parent, name, 'package.json'))) dirs.push(join(entry.slice(0, -2), name));
      }
    } else {
      dirs.push(entry);
    }
  }
  return dirs;
}

/** What node_modules was installed from: the lock file and every package.json it resolves. */
function depsHash() {
  const hash = createHash('sha256');
  const rootPkgText = readFileSync(join(ROOT, 'package.json'), 'utf8');
  const files = ['package-lock.json', 'package.json', ...workspaceDirs(JSON.parse(rootPkgText)).map((d) => join(d, 'package.json'))];
  for (const rel of files) {
    const file = join(ROOT, rel);
    hash.update(`${rel}\0`);
    hash.update(existsSync(file) ? readFileSync(file) : '<missing>');
    hash.update('\0');
  }
  return hash.digest('hex');
}

function ensureNpmDeps() {
  const want = depsHash();
  const have = existsSync(STAMP) ? readFileSync(STAMP, 'utf8').trim() : null;
  if (existsSync(join(ROOT, 'node_modules')) && have === want) return;

  const hasLock = existsSync(join(ROOT, 'package-lock.json'));
  const why = !existsSync(join(ROOT, 'node_modules')) ? 'node_modules is missing' : 'package files changed since the last install';
  const npmArgs = hasLock ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  console.log(`preflight: ${why}: npm ${npmArgs[0]}`);
  run(npmCommand(), npmArgs, 'npm');
  // `npm install` without a lock file writes one; hash what is there now.
  writeFileSync(STAMP, `${depsHash()}\n`);
}

function npmCommand() {
  return process.platform === 'win32' ? 'npm.cmd' : 'npm';
}

// ---- system tools -----------------------------------------------------------------------------

/** Each tool this run needs, with the Debian package that provides it. */
function requiredTools() {
  const tools = [];
  // With NATS_URL set the mesh uses that server; the tests still start their own per suite.
  if (!process.env.NATS_URL || forTests) tools.push({ bin: 'nats-server', pkg: 'nats-server' });
  tools.push({ bin: process.env.FFMPEG_PATH || 'ffmpeg', pkg: 'ffmpeg' });
  tools.push({ bin: process.env.FFPROBE_PATH || 'ffprobe', pkg: 'ffmpeg' });
  if (forTests) tools.push({ bin: 'chromium', pkg: 'chromium' });
  if (withDocker) {
    tools.push({ bin: 'dockerd', pkg: 'docker.io' });
    tools.push({ bin: 'docker-registry', pkg: 'docker-registry' });
    // Compose v1 (Debian 12's): test/e2e/compose-demo brings docker-compose.yml up with it.
    tools.push({ bin: 'docker-compose', pkg: 'docker-compose' });
  }
  return tools;
}

function findExecutable(bin) {
  const isExec = (file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (bin.includes('/')) return isExec(resolve(bin)) ? resolve(bin) : null;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    if (isExec(join(dir, bin))) return join(dir, bin);
  }
  return null;
}

/** A Debian package that is not installed; false where dpkg cannot tell (not Debian). */
function debMissing(pkg) {
  if (!findExecutable('dpkg-query')) return false;
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status !== 0 || !r.stdout.includes('install ok installed');
}

// What `npm run build` needs to compile the warm media engine (scripts/build-engine.mjs): a C
// compiler, pkg-config and the headers of the same FFmpeg libraries the ffmpeg package installs.
const ENGINE_BUILD_PACKAGES = ['libavcodec-dev', 'libavformat-dev', 'libavfilter-dev', 'libavutil-dev', 'libswscale-dev'];

function missingPackages() {
  const pkgs = new Set();
  for (const t of requiredTools()) {
    if (!findExecutable(t.bin)) pkgs.add(t.pkg);
  }
  // ffmpeg's drawtext needs a font file; Debian's ffmpeg does not pull one in.
  if (debMissing('fonts-dejavu-core')) pkgs.add('fonts-dejavu-core');
  if (!findExecutable('gcc')) pkgs.add('gcc');
  if (!findExecutable('pkg-config')) pkgs.add('pkg-config');
  for (const p of ENGINE_BUILD_PACKAGES) if (debMissing(p)) pkgs.add(p);
  return [...pkgs];
}

function ensureSystemTools() {
  const missing = missingPackages();
  if (missing.length === 0) return;

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !findExecutable('apt-get')) {
    fail(`missing system packages: ${missing.join(' ')}. Install them with:\n  sudo apt-get install -y ${missing.join(' ')}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  console.log('preflight: apt-get update');
  run('apt-get', ['update'], 'apt-get update', env);
  console.log(`preflight: apt-get install -y ${missing.join(' ')}`);
  run('apt-get', ['install', '-y', ...missing], 'apt-get install', env);

  const still = missingPackages();
  if (still.length > 0) fail(`still missing after apt-get install: ${still.join(' ')}`);
}

function run(cmd, cmdArgs, what, env = process.env) {
  const r = spawnSync(cmd, cmdArgs, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], env });
  if (r.error) fail(`${what} could not start: ${r.error.message}`);
  if (r.status !== 0) fail(`${what} failed (${r.signal ? `signal ${r.signal}` : `exit code ${r.status}`})`);
}

function buildEngine() {
  run(process.execPath, [join(ROOT, 'scripts/build-engine.mjs')], 'building the media engine');
}

checkNode();
ensureNpmDeps();
ensureSystemTools();
buildEngine();
