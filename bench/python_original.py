#!/usr/bin/env python3
"""The Python original's approach, for `npm run bench -- pool` (variant E): one fresh container per job through
docker-py, `max_workers` at a time from a ThreadPoolExecutor, as a Python DockerSimManager script does: per job a
folder of its own bind-mounted at /mnt/data, `containers.run(detach=True)`, `wait()`, `logs()` (written to the
job's log.txt), `remove()`.

    python3 bench/python_original.py --image IMAGE --root DIR --seeds 1-60 --iterations 1000 --workers 4 \
        [--network none] [--label key=value]

Prints one JSON line: {"wall_ms", "import_ms", "jobs", "succeeded", "failures"}; `wall_ms` runs from the client's
creation to the last job's removal (the interpreter's start and `import docker` are `import_ms`, not in it).
Exits 1 when a job failed, 2 when docker-py is missing (Debian: apt-get install -y python3-docker).
"""
import argparse
import json
import os
import sys
import time

started = time.perf_counter()
try:
    import docker
except ImportError:
    print("docker-py is missing: install it with `apt-get install -y python3-docker` (or `pip install docker`)", file=sys.stderr)
    sys.exit(2)
from concurrent.futures import ThreadPoolExecutor


def seed_range(text):
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--root", required=True, help="the data directory: one folder per job is made in it")
    parser.add_argument("--seeds", type=seed_range, required=True, help="first-last, e.g. 1-60")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--network", default=None, help="network_mode of every container (default: the engine's)")
    parser.add_argument("--label", action="append", default=[], help="key=value on every container")
    args = parser.parse_args()
    labels = dict(label.split("=", 1) for label in args.label)
    import_ms = (time.perf_counter() - started) * 1000

    clock = time.perf_counter()
    client = docker.from_env()

    def run_job(seed):
        jobdir = os.path.join(args.root, f"seed{seed}")
        os.makedirs(jobdir)
        command = f"-o /mnt/data -r {seed} -i {args.iterations}"
        extra = {"network_mode": args.network} if args.network else {}
        container = client.containers.run(
            args.image,
            command,
            detach=True,
            volumes={jobdir: {"bind": "/mnt/data", "mode": "rw"}},
            labels=labels,
            **extra,
        )
        try:
            status = container.wait()
            logs = container.logs()
            with open(os.path.join(jobdir, "log.txt"), "wb") as log:
                log.write(logs)
            container.remove()
        except Exception:
            container.remove(force=True)
            raise
        code = status.get("StatusCode")
        if code != 0:
            return f"seed{seed}: exit code {code}: {logs.decode(errors='replace').strip()[-200:]}"
        if not os.path.isfile(os.path.join(jobdir, "pi.txt")):
            return f"seed{seed}: no pi.txt in {jobdir}"
        return None

    failures = []
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for seed, future in [(seed, pool.submit(run_job, seed)) for seed in args.seeds]:
            try:
                failure = future.result()
            except Exception as error:  # an engine error: report it, as the job's failure
                failure = f"seed{seed}: {type(error).__name__}: {error}"
            if failure:
                failures.append(failure)
    wall_ms = (time.perf_counter() - clock) * 1000
    client.close()
    print(json.dumps({"wall_ms": wall_ms, "import_ms": import_ms, "jobs": len(args.seeds), "succeeded": len(args.seeds) - len(failures), "failures": failures[:5]}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
