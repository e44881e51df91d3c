// setupFiles of the integration project: the SDK worker logs every state change at INFO; tests
// want warnings and errors only.
import { DefaultLogger, Runtime } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });
