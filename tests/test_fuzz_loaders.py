"""Fuzzing the loaders: random, truncated and mutated bytes each give one clean MsmixError, within a memory bound.

The cases run in a child process whose address space is capped (``RLIMIT_AS``) at what it has
mapped after its imports plus :data:`HEADROOM`: a loader that tried to allocate what a damaged
file declares would fail there with ``MemoryError`` instead of succeeding lazily, and the test
would see it. Every draw comes from one seeded generator, so a failure replays exactly.
"""

import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from msmix_core.data import make_synthetic, save_npz

HEADROOM = 1 << 30  # bytes the child may map beyond its imports: far below what a bomb asks for
CASES_PER_KIND = 60
SEED = 2026

CHILD = textwrap.dedent(
    """
    import json, random, resource, sys, tempfile, warnings
    from pathlib import Path

    from msmix_core.data import load_dataset, load_mmsa, load_npz
    from msmix_core.errors import MsmixError

    seeds, n_cases, seed, headroom = json.loads(sys.argv[1])
    vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + headroom, resource.getrlimit(resource.RLIMIT_AS)[1]))
    warnings.simplefilter("ignore")  # a mutated file may load with a warning; only exceptions matter here
    rng = random.Random(seed)
    originals = {name: Path(path).read_bytes() for name, path in seeds.items()}

    def mutated(data):
        data = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.6:
                data[i] = rng.randrange(256)
            elif choice < 0.8:
                data[i:i + 1] = b""
            else:
                data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
        return bytes(data)

    cases = []
    for _ in range(n_cases):
        cases.append(("random", bytes(rng.randrange(256) for _ in range(rng.randint(0, 600)))))
        for name, data in originals.items():
            cases.append((f"truncated {name}", data[: rng.randrange(len(data))]))
            cases.append((f"mutated {name}", mutated(data)))
            tail = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
            cases.append((f"spliced {name}", data[: rng.randrange(len(data))] + tail))  # a valid start, then noise

    folder = Path(tempfile.mkdtemp())
    results = {"cases": 0, "bad": []}
    for kind, data in cases:
        suffix = ".npz" if "npz" in kind or rng.random() < 0.5 else ".pkl"
        path = folder / f"case{suffix}"
        path.write_bytes(data)
        for loader, source in ((load_mmsa, data), (load_npz, data), (load_dataset, path)):
            results["cases"] += 1
            try:
                loader(source)
            except MsmixError as exc:
                if "\\n" in str(exc):
                    results["bad"].append([kind, loader.__name__, "multi-line message", str(exc)[:300]])
            except BaseException as exc:
                results["bad"].append([kind, loader.__name__, type(exc).__name__, str(exc)[:300]])
    print(json.dumps(results))
    """
)


def _mmsa_bytes(protocol: int) -> bytes:
    rng = np.random.default_rng(0)

    def split(n: int) -> dict:
        return {
            "id": np.array([f"v{i}$_$0" for i in range(n)], dtype=object),
            "raw_text": [f"clip {i}" for i in range(n)],
            "text": rng.normal(size=(n, 3, 4)).astype(np.float32),
            "audio": rng.normal(size=(n, 3, 2)),
            "vision": rng.normal(size=(n, 3, 2)).astype(np.float32),
            "audio_lengths": [3] * n,
            "regression_labels": np.round(rng.uniform(-3, 3, n), 1).astype(np.float32),
        }

    return pickle.dumps({"train": split(4), "valid": split(2), "test": split(2)}, protocol=protocol)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_random_truncated_and_mutated_files_give_one_clean_error_each(tmp_path):
    seeds = {}
    for protocol in (2, 5):
        path = tmp_path / f"mmsa_p{protocol}.pkl"
        path.write_bytes(_mmsa_bytes(protocol))
        seeds[path.stem] = str(path)
    save_npz(make_synthetic(n_train=4, n_valid=2, n_test=2), tmp_path / "synthetic.npz")
    seeds["npz"] = str(tmp_path / "synthetic.npz")

    arguments = json.dumps([seeds, CASES_PER_KIND, SEED, HEADROOM])
    done = subprocess.run(
        [sys.executable, "-c", CHILD, arguments], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["cases"] == 3 * CASES_PER_KIND * (1 + 3 * len(seeds))
    assert results["bad"] == []
