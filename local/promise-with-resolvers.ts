/**
 * aws-local-stepfunctions 3 calls `Promise.withResolvers`, which Node 22 has and Node 20
 * lacks (every Task would fail with "Promise.withResolvers is not a function"). This adds
 * it, exactly as specified, only where it is missing; import it before the interpreter.
 */
const PromiseWithResolvers = Promise as PromiseConstructor & {
  withResolvers?: <T>() => {
    promise: Promise<T>;
    resolve: (value: T | PromiseLike<T>) => void;
    reject: (reason?: unknown) => void;
  };
};

if (typeof PromiseWithResolvers.withResolvers !== 'function') {
  PromiseWithResolvers.withResolvers = <T>() => {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
