/** The `captain` executable: runs the command line and exits with its code. */
import { captain } from './main.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.exit(await captain(process.argv.slice(2)));
