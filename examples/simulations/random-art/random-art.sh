#!/bin/sh
# Generative art: a grid of randomly coloured, mirror-symmetric "space invaders", written as a PPM image.
#   random-art -o <output folder> -s <image size in px> -n <invaders per row> -r <random seed>
# Writes <output folder>/invaders.ppm and prints "Wrote invaders.ppm (<size>x<size>, <n>x<n> invaders)".
set -eu
out=/mnt/data
size=128
count=4
seed=1
while getopts "o:s:n:r:" opt; do
  case "$opt" in
    o) out=$OPTARG ;;
    s) size=$OPTARG ;;
    n) count=$OPTARG ;;
    r) seed=$OPTARG ;;
    *) echo "usage: random-art -o <dir> -s <size> -n <invaders per row> -r <seed>" >&2; exit 2 ;;
  esac
done
for value in "$size" "$count" "$seed"; do
  case "$value" in ''|*[!0-9]*) echo "error: -s, -n and -r take whole numbers, got '$value'" >&2; exit 2 ;; esac
done
if [ "$count" -lt 1 ] || [ "$size" -lt $((count * 7)) ]; then
  echo "error: need at least 7 px per invader: size $size is too small for $count invaders per row" >&2
  exit 2
fi
mkdir -p "$out"
awk -v size="$size" -v n="$count" -v seed="$seed" 'BEGIN {
  srand(seed)
  cell = int(size / n); px = int(cell / 7)
  # one 5x5 mirror-symmetric sprite and one colour per invader
  for (k = 0; k < n * n; k++) {
    col[k] = int(rand() * 200 + 55) " " int(rand() * 200 + 55) " " int(rand() * 200 + 55)
    for (y = 0; y < 5; y++) for (x = 0; x < 3; x++) { on = rand() < 0.5; s[k, y, x] = on; s[k, y, 4 - x] = on }
  }
  print "P3"; print size, size; print 255
  for (py = 0; py < size; py++) {
    line = ""
    for (pxx = 0; pxx < size; pxx++) {
      gx = int(pxx / cell); gy = int(py / cell); k = gy * n + gx
      lx = int((pxx - gx * cell) / px) - 1; ly = int((py - gy * cell) / px) - 1
      c = "16 16 24"
      if (gx < n && gy < n && lx >= 0 && lx < 5 && ly >= 0 && ly < 5 && s[k, ly, lx]) c = col[k]
      line = line c " "
    }
    print line
  }
}' > "$out/invaders.ppm"
echo "Wrote invaders.ppm (${size}x${size}, ${count}x${count} invaders, seed $seed)"
