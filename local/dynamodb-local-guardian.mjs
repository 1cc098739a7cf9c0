/**
 * Runs DynamoDB Local for the process that spawned this one and stops it when that
 * process goes away, even if it is killed with SIGKILL (as `kill -9` or a test does): this
 * process's stdin is a pipe from the parent, and the kernel closes it when the parent
 * dies. A JVM started directly would be left running, holding its port and its files.
 *
 * Usage (see local/dynamodb-local.ts): node dynamodb-local-guardian.mjs <java> <args…>
 */
import { spawn } from 'node:child_process';

const [java, ...args] = process.argv.slice(2);
if (java === undefined) {
  process.stderr.write('usage: dynamodb-local-guardian.mjs <java> <args…>\n');
  process.exit(2);
}
const child = spawn(java, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  child.kill('SIGTERM');
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('SIGHUP', stop);
child.on('error', (error) => {
  process.stderr.write(
    `DynamoDB Local needs Java 17 or later on the PATH (${error.message}); install it, e.g. apt-get install openjdk-17-jre-headless.\n`,
  );
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGTERM' ? 0 : 1)));
