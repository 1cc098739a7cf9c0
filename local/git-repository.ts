import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { devNull, tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError, RetryableError, TerminalError } from '../core/index.js';

/** The example service a new repository starts with. */
const EXAMPLE_SERVICE = fileURLToPath(new URL('../examples/local-service/', import.meta.url));
const DEFAULT_TIMEOUT_MS = 10_000;
/** Who commits for everyone: the author is the person, the committer is the captain. */
const COMMITTER = { name: 'Release Captain', email: 'captain@release-captain.local' };
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** A branch name without revision syntax (`~ ^ : ? * [ @{ ..`), spaces or a leading `-`. */
const BRANCH = /^(?!-)(?!.*(?:\.\.|@\{|\/\/|\/\.|\.lock$|\/$|\.$))[A-Za-z0-9._/-]+$/;

export interface GitOptions {
  /** The repository's directory: its working tree, or a bare repository. */
  readonly cwd: string;
  /** Bytes for git's standard input. */
  readonly input?: Uint8Array | string;
  readonly env?: Readonly<Record<string, string>>;
  /** @default 10000 */
  readonly timeoutMs?: number;
  /**
   * Exit codes that answer a question rather than fail, e.g. `[0, 1]` for
   * `git merge-base --is-ancestor`.
   * @default [0]
   */
  readonly answers?: readonly number[];
}

export interface GitResult {
  readonly code: number;
  readonly stdout: Buffer;
}

/**
 * Runs git in the repository at `cwd` without a shell, with a timeout. Git never looks
 * above `cwd` for a repository (a missing one is an error, not the project's own
 * repository), and neither the user's nor the system's git configuration applies, so
 * the same commands behave the same on every machine. A non-zero exit code outside
 * `answers` is a `TerminalError` carrying git's stderr; a timeout is a `RetryableError`.
 *
 * @example
 * const { stdout } = await runGit(['rev-parse', 'refs/heads/main'], { cwd: '.captain/repos/api' });
 */
export function runGit(args: readonly string[], options: GitOptions): Promise<GitResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const answers = options.answers ?? [0];
  const command = `git ${args.join(' ')}`;
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      'git',
      ['-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main', ...args],
      {
        cwd: options.cwd,
        env: { ...gitEnvironment(options.cwd), ...options.env },
        encoding: 'buffer',
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        if (code !== null && answers.includes(code)) {
          resolvePromise({ code, stdout });
          return;
        }
        reject(failure(command, options.cwd, timeoutMs, error, stderr.toString('utf8').trim()));
      },
    );
    // Git may exit before reading all of its input (a refused command); the exit code
    // tells what happened, so a broken pipe here is not an error of its own.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * The environment of a git command: the caller's, minus the `GIT_*` variables a parent
 * git exports to hooks (`GIT_DIR`, `GIT_INDEX_FILE`…), which would point the command at
 * another repository.
 */
function gitEnvironment(cwd: string): Record<string, string> {
  const inherited = Object.entries(process.env).filter(
    (entry): entry is [string, string] => !entry[0].startsWith('GIT_') && entry[1] !== undefined,
  );
  return {
    ...Object.fromEntries(inherited),
    GIT_CEILING_DIRECTORIES: dirname(resolve(cwd)),
    GIT_CONFIG_GLOBAL: devNull,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_LITERAL_PATHSPECS: '1',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
  };
}

function failure(
  command: string,
  cwd: string,
  timeoutMs: number,
  error: (Error & { code?: unknown; killed?: boolean }) | null,
  stderr: string,
): Error {
  if (error?.killed === true) {
    return new RetryableError(
      `${command} in ${cwd} did not finish within ${timeoutMs} ms and was stopped; it may pass on a less busy machine.`,
      { cause: error },
    );
  }
  if (error?.code === 'ENOENT') {
    return new TerminalError(
      `Could not run ${command} in ${cwd}: either git is not installed (install git ≥ 2.32 and put it on PATH) or the directory does not exist.`,
      { cause: error },
    );
  }
  const code = typeof error?.code === 'number' ? `exit ${error.code}` : String(error?.message);
  return new TerminalError(`${command} failed in ${cwd} (${code}): ${stderr || 'no output'}`, {
    cause: error,
  });
}

export interface LocalGitRepositoryProps {
  /** The directory of the repository's working tree, e.g. `.captain/repos/local-service`. */
  readonly path: string;
  /**
   * A directory whose files the first commit holds, when the repository is created.
   * @default - the example service, examples/local-service
   */
  readonly seed?: string;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

/** A commit to make: files to write (path → content) on a branch, and who wrote and reviewed them. */
export interface CommitChange {
  /** Paths relative to the repository's root, `/`-separated, e.g. `{ 'service.json': '…' }`. */
  readonly files: Readonly<Record<string, string | Uint8Array>>;
  readonly message: string;
  /** The author's name, as the source history reports it. */
  readonly author: string;
  /**
   * Who approved the change; recorded as `Reviewed-by:` trailers.
   * @default - none: an unreviewed commit
   */
  readonly reviewedBy?: readonly string[];
  /**
   * The pull request it was merged through, recorded as a `Pull-request:` trailer.
   * @default - none
   */
  readonly pullRequest?: string;
  /** @default 'main' */
  readonly branch?: string;
}

/**
 * A real git repository of the local mode, with a working tree on `main` that a person can
 * edit and commit to with plain git. Commits made through it are built from git's
 * plumbing (a private index, `commit-tree`, a compare-and-swap `update-ref`), so a branch
 * that is not checked out takes commits too and a person's unrelated edits stay as they
 * were; when the branch is the checked-out one, the written files are checked out as well
 * (replacing a person's uncommitted edits of those same files, as saving them would).
 * Reviews are git trailers (`Reviewed-by: bo`, `Pull-request: local-service#3`), which
 * {@link GitSourceHistory} reads back.
 *
 * @example
 * const repository = await LocalGitRepository.open({ path: '.captain/repos/local-service' });
 * const sha = await repository.commit({
 *   files: { 'service.json': '{ "version": "2", "faultRate": 0.3, "latencyMs": 20 }\n' },
 *   message: 'Make a third of the requests fail',
 *   author: 'ana',
 *   reviewedBy: ['bo'],
 *   pullRequest: 'local-service#2',
 * });
 * await repository.head('main'); // sha
 * await repository.show(sha, 'service.json'); // the bytes just written
 */
export class LocalGitRepository {
  readonly path: string;
  readonly #timeoutMs: number;
  readonly #bare: boolean;
  /** Commits and branch moves of this process, one at a time. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, timeoutMs: number, bare: boolean) {
    this.path = path;
    this.#timeoutMs = timeoutMs;
    this.#bare = bare;
  }

  /**
   * Opens the repository at `props.path`, creating it first if it does not exist (or
   * holds no `main` yet): `git init`, then one commit on `main` with the seed's files.
   * A directory there that has files and no repository is refused rather than taken over.
   */
  static async open(props: LocalGitRepositoryProps): Promise<LocalGitRepository> {
    const path = resolve(props.path);
    const timeoutMs = props.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    await mkdir(path, { recursive: true });
    const found = await runGit(['rev-parse', '--is-bare-repository'], {
      cwd: path,
      timeoutMs,
      answers: [0, 128],
    });
    if (found.code !== 0) {
      if ((await readdir(path)).length > 0) {
        throw new TerminalError(
          `${path} has files but is not a git repository; Release Captain will not turn it into one. Remove it, or give the local repository another path.`,
        );
      }
      await runGit(['init', '--quiet', '--initial-branch=main'], { cwd: path, timeoutMs });
    }
    const repository = new LocalGitRepository(
      path,
      timeoutMs,
      found.stdout.toString().trim() === 'true',
    );
    if ((await repository.#tip('main')) === null) {
      const seed = props.seed ?? EXAMPLE_SERVICE;
      await repository.commit({
        files: await readTree(seed),
        message: `Start from ${posix.basename(seed.replace(/[/\\]+$/, ''))}`,
        author: COMMITTER.name,
      });
    }
    return repository;
  }

  /** Writes `change.files` on top of its branch's tip and commits them; returns the new commit's sha. */
  commit(change: CommitChange): Promise<string> {
    return this.#serially(() => this.#commit(change));
  }

  /** The sha `branch` points to. */
  async head(branch = 'main'): Promise<string> {
    const tip = await this.#tip(branch);
    if (tip === null)
      throw new NotFoundError(`Branch ${branch} is not in repository ${this.path}.`);
    return tip;
  }

  /** The bytes of the file at `path` in commit `sha`. */
  async show(sha: string, path: string): Promise<Uint8Array> {
    checkSha(sha, this.path);
    const file = checkPath(path);
    const { code, stdout } = await this.#git(['cat-file', 'blob', `${sha}:${file}`], {
      answers: [0, 128],
    });
    if (code === 0) return new Uint8Array(stdout);
    if (!(await isCommit(sha, { cwd: this.path, timeoutMs: this.#timeoutMs }))) {
      throw new NotFoundError(`Commit ${sha} is not in repository ${this.path}.`);
    }
    throw new NotFoundError(`${file} is not in commit ${sha.slice(0, 7)} of ${this.path}.`);
  }

  /**
   * Points `branch` at commit `sha`, creating the branch if needed: a push of another
   * line, or a force-push that rewrites history. On the checked-out branch the working
   * tree follows (`git reset --keep`, which refuses to lose a person's uncommitted edits).
   */
  setBranch(branch: string, sha: string): Promise<void> {
    return this.#serially(async () => {
      checkBranch(branch);
      checkSha(sha, this.path);
      if (await this.#checkedOut(branch)) {
        await this.#git(['reset', '--quiet', '--keep', sha]);
      } else {
        await this.#git(['update-ref', '-m', 'captain: set branch', `refs/heads/${branch}`, sha]);
      }
    });
  }

  async #commit(change: CommitChange): Promise<string> {
    const branch = change.branch ?? 'main';
    checkBranch(branch);
    const message = commitMessage(change);
    const files = Object.entries(change.files).map(([path, content]) => ({
      path: checkPath(path),
      bytes: typeof content === 'string' ? Buffer.from(content, 'utf8') : content,
    }));
    const parent = await this.#tip(branch);
    // Only `main` starts without a parent: the seed commit of a new repository.
    if (parent === null && branch !== 'main') {
      throw new NotFoundError(
        `Branch ${branch} is not in repository ${this.path}; create it with setBranch('${branch}', sha) first.`,
      );
    }
    // A private index: the person's staged changes in the repository's own index stay put.
    const index = join(tmpdir(), `captain-index-${randomUUID()}`);
    const withIndex = { GIT_INDEX_FILE: index };
    try {
      if (parent !== null) await this.#git(['read-tree', parent], { env: withIndex });
      const entries: string[] = [];
      for (const file of files) {
        const blob = await this.#git(['hash-object', '-w', '--stdin'], { input: file.bytes });
        entries.push(`100644 ${blob.stdout.toString().trim()}\t${file.path}\0`);
      }
      await this.#git(['update-index', '-z', '--index-info'], {
        env: withIndex,
        input: entries.join(''),
      });
      const tree = (await this.#git(['write-tree'], { env: withIndex })).stdout.toString().trim();
      const sha = (
        await this.#git(['commit-tree', tree, ...(parent === null ? [] : ['-p', parent])], {
          input: message,
          env: identity(change.author),
        })
      ).stdout
        .toString()
        .trim();
      // Compare-and-swap: a commit made meanwhile (by a person, say) is not overwritten.
      await this.#git([
        'update-ref',
        '-m',
        `commit: ${message.split('\n', 1)[0]}`,
        `refs/heads/${branch}`,
        sha,
        parent ?? '0'.repeat(sha.length),
      ]);
      if (files.length > 0 && (await this.#checkedOut(branch))) {
        await this.#git(['checkout', sha, '--pathspec-from-file=-', '--pathspec-file-nul'], {
          input: files.map((file) => `${file.path}\0`).join(''),
        });
      }
      return sha;
    } finally {
      await rm(index, { force: true });
    }
  }

  #tip(branch: string): Promise<string | null> {
    checkBranch(branch);
    return branchTip(branch, { cwd: this.path, timeoutMs: this.#timeoutMs });
  }

  async #checkedOut(branch: string): Promise<boolean> {
    if (this.#bare) return false;
    const { code, stdout } = await this.#git(['symbolic-ref', '--quiet', 'HEAD'], {
      answers: [0, 1],
    });
    return code === 0 && stdout.toString().trim() === `refs/heads/${branch}`;
  }

  #git(args: readonly string[], options: Omit<GitOptions, 'cwd' | 'timeoutMs'> = {}) {
    return runGit(args, { ...options, cwd: this.path, timeoutMs: this.#timeoutMs });
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => {});
    return next;
  }
}

/**
 * What each name resolves to as a commit, in one git call: a full sha (a commit's, or
 * `null`) or `refs/heads/<branch>` (its tip, or `null`). A name of any other form is
 * `null` without asking git, so no revision syntax or option ever reaches it.
 */
export async function resolveCommits(
  names: readonly string[],
  options: Pick<GitOptions, 'cwd' | 'timeoutMs'>,
): Promise<(string | null)[]> {
  const valid = names.map(
    (name) => SHA.test(name) || (name.startsWith('refs/heads/') && BRANCH.test(name.slice(11))),
  );
  const asked = names.filter((_, i) => valid[i]);
  if (asked.length === 0) return names.map(() => null);
  const { stdout } = await runGit(['cat-file', '--batch-check=%(objectname)'], {
    ...options,
    input: asked.map((name) => `${name}^{commit}\n`).join(''),
  });
  // One line per name asked: the commit's sha, or `<name>^{commit} missing`.
  const lines = stdout.toString().split('\n');
  let next = 0;
  return names.map((_, i) => {
    if (!valid[i]) return null;
    const line = lines[next++] ?? '';
    return SHA.test(line) ? line : null;
  });
}

/** The commit `branch` points to in the repository at `options.cwd`; `null` if there is no such branch. */
export async function branchTip(
  branch: string,
  options: Pick<GitOptions, 'cwd' | 'timeoutMs'>,
): Promise<string | null> {
  const [tip = null] = await resolveCommits([`refs/heads/${branch}`], options);
  return tip;
}

/** Whether `sha` is the full name of a commit in the repository at `options.cwd`. */
export async function isCommit(
  sha: string,
  options: Pick<GitOptions, 'cwd' | 'timeoutMs'>,
): Promise<boolean> {
  const [commit] = await resolveCommits([sha], options);
  return commit === sha;
}

/** The message with its review as trailers, in the last paragraph where git looks for them. */
function commitMessage(change: CommitChange): string {
  const message = change.message.trim();
  if (message === '') {
    throw new TerminalError('A commit needs a message; got an empty one.');
  }
  const trailers = [
    ...(change.reviewedBy ?? []).map((name) => `Reviewed-by: ${checkName(name, 'reviewer')}`),
    ...(change.pullRequest === undefined
      ? []
      : [`Pull-request: ${checkName(change.pullRequest, 'pull request')}`]),
  ];
  return trailers.length === 0 ? `${message}\n` : `${message}\n\n${trailers.join('\n')}\n`;
}

function identity(author: string): Record<string, string> {
  const name = checkName(author, 'author');
  return {
    GIT_AUTHOR_NAME: name,
    GIT_AUTHOR_EMAIL: `${name.toLowerCase().replace(/[^a-z0-9._-]+/g, '.')}@release-captain.local`,
    GIT_COMMITTER_NAME: COMMITTER.name,
    GIT_COMMITTER_EMAIL: COMMITTER.email,
  };
}

function checkName(name: string, what: string): string {
  const trimmed = name.trim();
  if (trimmed === '' || /[<>\n\r]/.test(trimmed)) {
    throw new TerminalError(
      `The ${what} ${JSON.stringify(name)} is not a name git can record: give a non-empty name on one line without "<" or ">".`,
    );
  }
  return trimmed;
}

function checkBranch(branch: string): void {
  if (!BRANCH.test(branch)) {
    throw new TerminalError(
      `${JSON.stringify(branch)} is not a branch name Release Captain accepts: use letters, digits and "._/-", e.g. "main" or "feature/faults".`,
    );
  }
}

function checkSha(sha: string, repository: string): void {
  if (!SHA.test(sha)) {
    throw new NotFoundError(
      `Commit ${sha} is not in repository ${repository}: name a commit by its full sha.`,
    );
  }
}

/** A `/`-separated path inside the repository; never `..`, absolute, or into `.git`. */
function checkPath(path: string): string {
  const normal = posix.normalize(path);
  const parts = normal.split('/');
  if (
    path === '' ||
    posix.isAbsolute(normal) ||
    parts.some((part) => ['', '.', '..', '.git'].includes(part.toLowerCase())) ||
    /[\0\n\r\t\\]/.test(path)
  ) {
    throw new TerminalError(
      `${JSON.stringify(path)} is not a file path inside the repository: give a relative, "/"-separated path such as "service.json" or "config/flags.json".`,
    );
  }
  return normal;
}

/** Every file under `directory`, by its `/`-separated path, in name order. */
async function readTree(directory: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  const walk = async (current: string): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name === '.git') continue;
      const full = join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        files[relative(directory, full).split(/[/\\]/).join('/')] = await readFile(full);
      }
    }
  };
  try {
    if (!(await stat(directory)).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new TerminalError(
      `The seed ${directory} of a new local repository is not a directory; point seed at the example service's files.`,
      { cause: error },
    );
  }
  await walk(directory);
  return files;
}
