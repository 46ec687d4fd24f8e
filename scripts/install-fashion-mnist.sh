#!/bin/sh
# Installs the full Fashion-MNIST (60k train / 10k test, MIT licence) from Debian's
# dataset-fashion-mnist package into /usr/share/datasets/fashion-mnist/. clsa's 'fashion-mnist'
# data source then uses it instead of the shipped 6000 + 1000 subset.
set -eu
DIR=/usr/share/datasets/fashion-mnist
if [ -f "$DIR/train-images-idx3-ubyte.gz" ] && [ -f "$DIR/t10k-labels-idx1-ubyte.gz" ]; then
  echo "fashion-mnist: already installed in $DIR"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "fashion-mnist: run as root (or: sudo apt-get install -y dataset-fashion-mnist)" >&2
  exit 1
fi
apt-get install -y dataset-fashion-mnist || { apt-get update && apt-get install -y dataset-fashion-mnist; }
ls -l "$DIR"
