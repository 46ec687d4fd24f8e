// Data-parallel training over MPI (docs/distributed.md): the job's ranks, this process's place
// among them, and how the job ends. MPI starts once per process and cannot start again after it
// has finalised, so there is one Communicator per process, opened on first use and ended by the
// process's 'exit' event: finalised on a clean exit; on any other the launcher, seeing a rank exit
// with an error, ends the others, which would otherwise wait in their next collective for ever.
import * as os from 'os';
import { setCpuThreads } from './backend';
import { native } from './native';
import { checkEnum, checkInt, describe } from './validate';

/** 'none': one process. 'mpi': Open MPI (a world of one when not started by mpirun). 'auto': MPI
 * when started by Open MPI's mpirun/mpiexec with more than one rank, else one process. */
export type DistributedOption = 'none' | 'mpi' | 'auto';
export const DISTRIBUTED_OPTIONS: readonly DistributedOption[] = ['none', 'mpi', 'auto'];

/** Steps between the periodic checks that every rank's replica is still identical (a hash of
 * every state buffer compared across ranks; see ClsaModel.attach). */
export const DEFAULT_CHECK_EVERY = 100;

interface NativeCommHandle {
  info(): { backend: 'mpi' | 'nccl'; rank: number; size: number; localRank: number; localSize: number; library: string; version: string };
  allReduce(send: Float32Array, recv: Float32Array, op: number): Promise<void>;
  allGather(send: Float32Array | BigUint64Array, recv: Float32Array | BigUint64Array): Promise<void>;
  broadcast(buf: Float32Array | BigUint64Array, root: number): Promise<void>;
  barrier(): Promise<void>;
  finalize(): void;
  abort(code: number): never;
  dispose(): void;
}

/** This process's communicator: its rank in the job and the collectives over host floats. */
export class Communicator {
  readonly backend: 'mpi';
  readonly rank: number;
  readonly size: number;
  /** Rank among the ranks on this machine, and how many share it (MPI_COMM_TYPE_SHARED). */
  readonly localRank: number;
  readonly localSize: number;
  /** The library loaded (as given to dlopen) and its version line. */
  readonly library: string;
  readonly version: string;
  /** @internal the addon's NativeComm, for ClsaModel.attach */
  readonly handle: NativeCommHandle;

  /** @internal use openDistributed() */
  constructor(handle: NativeCommHandle) {
    const i = handle.info();
    this.handle = handle;
    this.backend = 'mpi';
    this.rank = i.rank;
    this.size = i.size;
    this.localRank = i.localRank;
    this.localSize = i.localSize;
    this.library = i.library;
    this.version = i.version;
  }

  /** Element-wise sum or mean of `data` over the ranks (a new array; every rank must call it). */
  async allReduce(data: Float32Array, op: 'sum' | 'mean' = 'sum'): Promise<Float32Array> {
    checkEnum('allReduce(op)', op, ['sum', 'mean'] as const);
    const out = Float32Array.from(data);
    await this.handle.allReduce(out, out, op === 'sum' ? 0 : 1);
    return out;
  }

  /** Every rank's `data`, concatenated in rank order (every rank passes the same length). */
  async allGather(data: Float32Array): Promise<Float32Array> {
    const out = new Float32Array(data.length * this.size);
    await this.handle.allGather(data, out);
    return out;
  }

  /** Rank `root`'s `data` into every rank's `data` (in place; the same length everywhere). */
  async broadcast(data: Float32Array, root = 0): Promise<void> {
    checkInt('broadcast(root)', root, 0, this.size - 1);
    await this.handle.broadcast(data, root);
  }

  barrier(): Promise<void> {
    return this.handle.barrier();
  }

  /** Ends every rank of the job with exit code `code` (MPI_Abort). */
  abort(code = 1): never {
    return this.handle.abort(code);
  }
}

let opened: Communicator | undefined;

/** The world size Open MPI's launcher announced to this process (1 when not started by it). */
export function launcherWorldSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.OMPI_COMM_WORLD_SIZE);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/**
 * This process's communicator for `option` ('none' or 'auto' outside a multi-rank mpirun:
 * undefined), opened once per process. `name` names the option in errors. When several ranks
 * share a machine, each takes an equal share of its CPU threads (setCpuThreads) unless told
 * otherwise afterwards.
 */
export function openDistributed(option: DistributedOption, name = 'distributed'): Communicator | undefined {
  checkEnum(name, option, DISTRIBUTED_OPTIONS);
  if (option === 'none' || (option === 'auto' && launcherWorldSize() === 1)) return undefined;
  if (opened) return opened;
  const Native = (native() as unknown as { NativeComm: new (o: object) => NativeCommHandle }).NativeComm;
  let handle: NativeCommHandle;
  try {
    handle = new Native({ backend: 1, deviceIndex: 0 });
  } catch (err) {
    const e = new Error(`${name}: '${option}' could not start MPI: ${(err as Error).message}`);
    (e as Error & { code?: unknown }).code = (err as { code?: unknown }).code;
    throw e;
  }
  const comm = new Communicator(handle);
  opened = comm;
  // A failed rank exits without MPI_Finalize: mpirun sees its non-zero status, prints it and ends
  // the job, rank error messages included (MPI_Abort from here lost them: its own help text
  // failed to unpack under Open MPI 4.1 and the ranks' buffered output was dropped).
  process.on('exit', (code) => {
    try {
      if (code === 0) handle.finalize();
    } catch {
      // Nothing left to tell anyone: the process is ending either way.
    }
  });
  if (comm.localSize > 1) {
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    setCpuThreads(Math.max(1, Math.floor(cores / comm.localSize)));
  }
  return comm;
}

/** Checks that `v` is a Communicator from openDistributed (named `name` in the error). */
export function checkCommunicator(name: string, v: unknown): Communicator {
  if (!(v instanceof Communicator)) throw new TypeError(`${name}: expected a Communicator from openDistributed() but got ${describe(v)}`);
  return v;
}
