// Error classes of the package beyond TypeError / RangeError (bad arguments), AbortError
// (lib/train.ts) and NoTestSplitError (lib/dataset.ts).

/**
 * A file that is not what its reader expects: truncated, corrupt, of another format or version,
 * or not matching the manifest of the directory it belongs to. `file` is the offending path (or
 * the name the bytes were given); the message names it too, and the argument it came from where
 * that is not plain (e.g. "options.resume: ckpt/checkpoint.json: ...").
 */
export class FormatError extends Error {
  override readonly name = 'FormatError';
  readonly code = 'CLSA_ERR_FORMAT';
  constructor(readonly file: string, message: string) {
    super(message);
  }
}
