import { TEMPLATES_DIR } from './template-volumes.js';

/**
 * Shell lines that make the job's folder `$folder` ready in a pod's prepare step (an init container with the
 * sweep's image and its /bin/sh), as a local attempt finds it: created, an earlier attempt's files set aside in
 * `.attempt-<n>` (n one above the highest there, as a local retry numbers them), and `put` defined to write a
 * template into it (`put <slot> <ConfigMap key> <path in the folder> <octal mode>`) from the template volumes.
 */
export const PREPARE_FOLDER = `mkdir -p "$folder"
if [ -n "$(ls -A "$folder" | grep -v '^\\.attempt-[0-9]*$')" ]; then
  n=0; for d in "$folder"/.attempt-*; do k=\${d##*/.attempt-}; case $k in ''|*[!0-9]*) ;; *) if [ "$k" -gt "$n" ]; then n=$k; fi ;; esac; done; n=$((n + 1))
  mkdir "$folder/.attempt-$n"
  ls -A "$folder" | grep -v '^\\.attempt-[0-9]*$' | while IFS= read -r entry; do mv "$folder/$entry" "$folder/.attempt-$n/"; done
fi
put() { mkdir -p "$(dirname "$folder/$3")"; cp "${TEMPLATES_DIR}/$1/$2" "$folder/$3"; chmod "$4" "$folder/$3"; }`;
