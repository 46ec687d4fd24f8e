// Input validation scan: first non-finite element and first all-zero row.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace clsa::cpu {

void scan_rows(const float* data, int64_t rows, int64_t cols, int64_t* first_nonfinite, int64_t* first_zero_row) {
  const int64_t tasks = std::min<int64_t>(rows, 64);
  std::vector<int64_t> bad(size_t(tasks), -1), zero(size_t(tasks), -1);
  parallel_for(tasks, [&](int64_t task, int) {
    const int64_t r0 = rows * task / tasks, r1 = rows * (task + 1) / tasks;
    for (int64_t r = r0; r < r1; ++r) {
      const float* p = data + r * cols;
      float acc = 0.0f, nz = 0.0f;
      for (int64_t e = 0; e < cols; ++e) {
        acc += p[e] * 0.0f;  // NaN or inf in p[e] makes this NaN
        nz += std::fabs(p[e]);
      }
      if (acc != 0.0f && bad[size_t(task)] < 0) {
        for (int64_t e = 0; e < cols; ++e)
          if (!std::isfinite(p[e])) {
            bad[size_t(task)] = r * cols + e;
            break;
          }
      }
      if (nz == 0.0f && zero[size_t(task)] < 0) zero[size_t(task)] = r;
    }
  });
  *first_nonfinite = -1;
  *first_zero_row = -1;
  for (int64_t t = 0; t < tasks; ++t) {
    if (*first_nonfinite < 0) *first_nonfinite = bad[size_t(t)];
    if (*first_zero_row < 0) *first_zero_row = zero[size_t(t)];
  }
}

}  // namespace clsa::cpu
