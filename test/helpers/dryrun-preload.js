// Preloaded with `node -r` into a CLI process (dist/cli.js) so that it sees a usable "GPU": the
// dry-run shim makes backend() report CUDA usable, with host memory standing in for the device.
// Lets a test check what `device: 'auto'` chooses on a GPU machine without having one.
'use strict';
require('../../bench/gpu/dryrun-shim')(require('../../dist/native').native());
