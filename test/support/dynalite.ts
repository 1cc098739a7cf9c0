/** dynalite in memory with Release Captain's table: the local runtime's, for the tests. */
export { type LocalTable, startLocalTable } from '../../local/emulators.js';
