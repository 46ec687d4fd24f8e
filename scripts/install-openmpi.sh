#!/bin/sh
# Installs Open MPI from Debian (openmpi-bin: mpirun; libopenmpi-dev: libmpi.so.40, mpi.h and mpicc) for
# data-parallel training on CPU ranks, and NCCL's bootstrap on GPU ranks (docs/distributed.md). clsa
# loads libmpi.so.40 at run time, so single-process training and the package itself do not need it;
# the distributed tests skip (visibly) without mpirun, the NCCL stand-in tests without mpicc.
set -eu
if command -v mpirun >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libmpi\.so\.40 '; then
  echo "openmpi: already installed ($(mpirun --version 2>/dev/null | head -n 1))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "openmpi: run as root (or: sudo apt-get install -y openmpi-bin libopenmpi-dev)" >&2
  exit 1
fi
apt-get install -y openmpi-bin libopenmpi-dev || { apt-get update && apt-get install -y openmpi-bin libopenmpi-dev; }
mpirun --version | head -n 1
