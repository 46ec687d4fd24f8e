import { backend } from '../lib';

test('the addon loads and reports its CPU kernel', () => {
  const b = backend();
  expect(['avx512', 'avx2', 'generic']).toContain(b.cpuKernel);
  expect(b.cpuThreads).toBeGreaterThanOrEqual(1);
});
