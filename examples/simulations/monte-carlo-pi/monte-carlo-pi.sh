#!/bin/sh
# Monte Carlo estimate of pi.
#   monte-carlo-pi -o <output folder> -r <random seed> -i <iterations>
# Writes <output folder>/pi.txt and prints "Result: pi_hat = <estimate>".
set -eu
out=/mnt/data
seed=1
iterations=1000
while getopts "o:r:i:" opt; do
  case "$opt" in
    o) out=$OPTARG ;;
    r) seed=$OPTARG ;;
    i) iterations=$OPTARG ;;
    *) echo "usage: monte-carlo-pi -o <dir> -r <seed> -i <iterations>" >&2; exit 2 ;;
  esac
done
case "$iterations" in
  ''|*[!0-9]*) echo "error: iterations must be a positive integer, got '$iterations'" >&2; exit 2 ;;
esac
case "$seed" in
  ''|*[!0-9]*) echo "error: seed must be a non-negative integer, got '$seed'" >&2; exit 2 ;;
esac
echo "Estimating pi with $iterations samples (seed $seed)"
pi=$(awk -v n="$iterations" -v seed="$seed" 'BEGIN {
  srand(seed); hits = 0
  for (i = 0; i < n; i++) { x = rand(); y = rand(); if (x * x + y * y <= 1) hits++ }
  printf "%.6f", 4 * hits / n
}')
mkdir -p "$out"
echo "$pi" > "$out/pi.txt"
echo "Result: pi_hat = $pi"
