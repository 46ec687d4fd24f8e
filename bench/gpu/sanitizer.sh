# Sourced by the GPU scripts: sets SAN to compute-sanitizer's path ("" when the machine has none),
# from the PATH or the usual CUDA install locations.
SAN=$(command -v compute-sanitizer || true)
[ -z "$SAN" ] && for c in /usr/local/cuda/bin/compute-sanitizer /opt/cuda/bin/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer; do
  [ -x "$c" ] && SAN=$c && break
done
