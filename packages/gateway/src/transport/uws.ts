import path from 'node:path';
import type * as UWS from 'uWebSockets.js';

/**
 * Loads the native uWebSockets.js binary for this platform directly. The package's own entry
 * quietly falls back to a slow `ws` shim when the binary does not load; a relay running on the
 * shim would look healthy and perform badly, so a missing binary is a start-up error here.
 */
function loadNative(): typeof UWS {
  const pkgDir = path.dirname(require.resolve('uWebSockets.js/package.json'));
  const binary = path.join(
    pkgDir,
    'binaries',
    `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`,
  );
  try {
    return require(binary) as typeof UWS;
  } catch (err) {
    throw new Error(
      `uWebSockets.js native binary failed to load (${binary}): ${(err as Error).message}. ` +
        'Relay needs Node.js 20 on a platform the binary supports; it will not fall back to the ws shim.',
    );
  }
}

export const uws: typeof UWS = loadNative();
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
