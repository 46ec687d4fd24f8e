// Data-parallel training over MPI or NCCL (docs/distributed.md): the job's ranks, this process's
// place among them, and how the job ends. MPI starts once per process and cannot start again after
// it has finalised (NCCL is bootstrapped over it), so there is one Communicator per process, opened
// on first use and ended by the process's 'exit' event: finalised on a clean exit; on any other
// the launcher, seeing a rank exit with an error, ends the others, which would otherwise wait in
// their next collective for ever.
import * as os from 'os';
import { setCpuThreads } from './backend';
import { native } from './native';
import { checkEnum, checkInt, describe } from './validate';

/** 'none': one process. 'mpi': Open MPI, CPU ranks (a world of one when not started by mpirun).
 * 'nccl': NCCL over GPUs, one per rank, bootstrapped over Open MPI. 'auto': when started by Open
 * MPI's mpirun/mpiexec with more than one rank, NCCL for a model on the GPU where libnccl.so.2
 * loads on every rank, else MPI; one process otherwise. */
export type DistributedOption = 'none' | 'mpi' | 'nccl' | 'auto';
export const DISTRIBUTED_OPTIONS: readonly DistributedOption[] = ['none', 'mpi', 'nccl', 'auto'];

/** What openDistributed needs to pick and place a back end: the device the model trains on
 * ('auto' picks NCCL only for 'cuda') and, for NCCL, the rank's GPU (default: its local rank). */
export interface DistributedTarget {
  device?: 'cpu' | 'cuda';
  deviceIndex?: number;
}

/** Steps between the periodic checks that every rank's replica is still identical (a hash of
 * every state buffer compared across ranks; see ClsaModel.attach). */
export const DEFAULT_CHECK_EVERY = 100;

interface NativeCommHandle {
  info(): { backend: 'mpi' | 'nccl'; deviceIndex: number; rank: number; size: number; localRank: number; localSize: number; library: string; version: string };
  allReduce(send: Float32Array, recv: Float32Array, op: number): Promise<void>;
  allGather(send: Float32Array | BigUint64Array, recv: Float32Array | BigUint64Array): Promise<void>;
  broadcast(buf: Float32Array | BigUint64Array, root: number): Promise<void>;
  barrier(): Promise<void>;
  finalize(): void;
  abort(code: number): never;
  dispose(): void;
}

/** This process's communicator: its rank in the job and the collectives over host floats (over MPI
 * for both back ends: NCCL moves GPU memory, which only an attached model's step hands it). */
export class Communicator {
  readonly backend: 'mpi' | 'nccl';
  /** NCCL: the GPU this rank's collectives run on (a model attached to it must live there). */
  readonly deviceIndex: number | undefined;
  readonly rank: number;
  readonly size: number;
  /** Rank among the ranks on this machine, and how many share it (MPI_COMM_TYPE_SHARED). */
  readonly localRank: number;
  readonly localSize: number;
  /** The library loaded (as given to dlopen) and its version line. */
  readonly library: string;
  readonly version: string;
  /** @internal the addon's NativeComm, for ClsaModel.attach (NCCL's: device memory only) */
  readonly handle: NativeCommHandle;
  /** @internal the MPI NativeComm that carries the host collectives below (the same as handle for MPI) */
  readonly host: NativeCommHandle;

  /** @internal use openDistributed() */
  constructor(handle: NativeCommHandle, host: NativeCommHandle = handle) {
    const i = handle.info();
    this.handle = handle;
    this.host = host;
    this.backend = i.backend;
    this.deviceIndex = i.backend === 'nccl' ? i.deviceIndex : undefined;
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
    await this.host.allReduce(out, out, op === 'sum' ? 0 : 1);
    return out;
  }

  /** Every rank's `data`, concatenated in rank order (every rank passes the same length). */
  async allGather(data: Float32Array): Promise<Float32Array> {
    const out = new Float32Array(data.length * this.size);
    await this.host.allGather(data, out);
    return out;
  }

  /** Rank `root`'s `data` into every rank's `data` (in place; the same length everywhere). */
  async broadcast(data: Float32Array, root = 0): Promise<void> {
    checkInt('broadcast(root)', root, 0, this.size - 1);
    await this.host.broadcast(data, root);
  }

  barrier(): Promise<void> {
    return this.host.barrier();
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

/** The addon's communicator class. */
function nativeComm(): new (o: object) => NativeCommHandle {
  return (native() as unknown as { NativeComm: new (o: object) => NativeCommHandle }).NativeComm;
}

/** A NativeComm of `backend` (1 MPI, 2 NCCL), its error reworded for the option `name`. */
function create(backend: 1 | 2, deviceIndex: number, name: string, option: DistributedOption): NativeCommHandle {
  try {
    return new (nativeComm())({ backend, deviceIndex });
  } catch (err) {
    const e = new Error(`${name}: '${option}' could not start ${backend === 1 ? 'MPI' : 'NCCL'}: ${(err as Error).message}`);
    (e as Error & { code?: unknown }).code = (err as { code?: unknown }).code;
    throw e;
  }
}

let ncclWhy: string | undefined;
/** Why 'auto' did not choose NCCL for a GPU model (the loader's reason), for the errors that follow. */
export function ncclUnavailable(): string | undefined {
  return ncclWhy;
}

/**
 * This process's communicator for `option` ('none' or 'auto' outside a multi-rank mpirun:
 * undefined), opened once per process. `name` names the option in errors; `target` says where the
 * model trains ('auto' takes NCCL for 'cuda' when every rank loads libnccl.so.2) and which GPU an
 * NCCL rank uses (default: its local rank). When several ranks share a machine, each takes an
 * equal share of its CPU threads (setCpuThreads) unless told otherwise afterwards.
 */
export function openDistributed(option: DistributedOption, name = 'distributed', target: DistributedTarget = {}): Communicator | undefined {
  checkEnum(name, option, DISTRIBUTED_OPTIONS);
  if (target.deviceIndex !== undefined) checkInt(`${name}: deviceIndex`, target.deviceIndex, 0, 15);
  if (option === 'none' || (option === 'auto' && launcherWorldSize() === 1)) return undefined;
  if (opened) {
    if ((option === 'nccl' || option === 'mpi') && opened.backend !== option)
      throw new Error(`${name}: '${option}' was asked for, but this process already runs the ${opened.backend.toUpperCase()} communicator (one per process)`);
    return opened;
  }
  let handle: NativeCommHandle | undefined;
  if (option === 'nccl' || (option === 'auto' && target.device === 'cuda')) {
    // Every rank gets an NCCL communicator or every rank fails (clsa_comm_create agrees over MPI
    // first), so 'auto' may fall back to MPI without leaving a rank behind.
    try {
      handle = create(2, target.deviceIndex ?? -1, name, option);
    } catch (err) {
      if (option === 'nccl' || (err as { code?: unknown }).code !== 'CLSA_ERR_UNSUPPORTED') throw err;
      ncclWhy = (err as Error).message;
    }
  }
  // NCCL's host collectives (the facade's) go over the MPI that bootstrapped it: the same MPI.
  const host = create(1, 0, name, option);
  const comm = new Communicator(handle ?? host, host);
  opened = comm;
  // A failed rank exits without MPI_Finalize: mpirun sees its non-zero status, prints it and ends
  // the job, rank error messages included (MPI_Abort from here lost them: its own help text
  // failed to unpack under Open MPI 4.1 and the ranks' buffered output was dropped).
  process.on('exit', (code) => {
    try {
      if (code === 0) comm.handle.finalize();  // NCCL's destroys its communicator, then finalises MPI
    } catch {
      // Nothing left to tell anyone: the process is ending either way.
    }
  });
  // CPU ranks share the cores for their steps, GPU ranks for their host-side work (data, kNN).
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
