#!/usr/bin/env node
// The package's `captain` bin: the CLI is TypeScript, run through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../cli/captain.ts');
