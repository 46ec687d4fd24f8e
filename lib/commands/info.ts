// `clsa info`: what this build and machine can do.
import { Command } from 'commander';
import { backend } from '../backend';

const CUDA_WHY: Record<string, string> = {
  usable: 'usable',
  'not-compiled': 'not compiled into this build',
  'no-driver': 'no NVIDIA driver found',
  'driver-too-old': 'the NVIDIA driver is older than the CUDA runtime of this build',
  'no-device': 'driver present but no GPU',
  error: 'CUDA error',
};

export function registerInfo(program: Command): void {
  program.command('info')
    .description('show the build: version, CPU threads and kernel, CUDA compiled or not, GPUs found (or why none)')
    .option('--json', 'print the information as JSON')
    .action((opts: { json?: boolean }) => {
      const b = backend();
      if (opts.json) {
        process.stdout.write(JSON.stringify(b, null, 2) + '\n');
        return;
      }
      const verified = Object.keys(b.cudaVerified).filter((k) => b.cudaVerified[k as keyof typeof b.cudaVerified]);
      const unverified = Object.keys(b.cudaVerified).filter((k) => !verified.includes(k));
      const cudaVer = (v: number) => (v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'none');
      const lines = [
        `clsa ${b.version}`,
        `node ${process.versions.node} (N-API ${process.versions.napi}) on ${process.platform}-${process.arch}`,
        `CPU: ${b.cpuThreads} threads, kernel ${b.cpuKernel}, bf16 ${b.cpuBf16 ? 'yes (AVX512-BF16: --precision bf16)' : 'no'}`,
        `CUDA compiled: ${b.cudaCompiled ? `yes (runtime ${cudaVer(b.cudaRuntimeVersion)})` : 'no'}`,
        `CUDA driver: ${cudaVer(b.cudaDriverVersion)}`,
        `CUDA state: ${b.cudaState}${b.cudaMessage ? ` - ${b.cudaMessage}` : ` - ${CUDA_WHY[b.cudaState] ?? ''}`}`,
        `CUDA verified on a GPU: ${verified.join(', ') || 'none'}${unverified.length ? `; not yet: ${unverified.join(', ')} (device 'auto' runs these on the CPU)` : ''}`,
        `GPUs: ${b.devices.length === 0 ? 'none' : ''}`,
        ...b.devices.map((d) => `  [${d.index}] ${d.name}, compute ${d.computeCapability}, ${d.multiprocessors} SMs, ` +
          `${(d.totalMemory / 2 ** 30).toFixed(1)} GiB (${(d.freeMemory / 2 ** 30).toFixed(1)} GiB free)`),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
