"""``python -m ui.serve``: the app's modules and UMAP are ready before Streamlit listens, its options pass through."""

import sys
import threading

import pytest

from ui import serve, warmup


@pytest.fixture
def fresh_warmup(monkeypatch):
    """A warm-up not yet started whose UMAP compile waits for the test's ``go`` and whose worker is a no-op."""
    go = threading.Event()
    monkeypatch.setattr(warmup, "_done", threading.Event())
    monkeypatch.setattr(warmup, "_thread", None)
    monkeypatch.setattr(warmup, "compile_umap", lambda: go.wait(10))
    monkeypatch.setattr(warmup, "prestart", lambda: None)
    yield go
    go.set()


def test_preload_imports_every_app_module_and_loads_a_cached_umap_before_serving(fresh_warmup, monkeypatch):
    monkeypatch.setattr(warmup, "cached", lambda: True)
    fresh_warmup.set()
    serve.preload()
    assert warmup.ready()
    assert {"ui.sidebar", "ui.latents", "ui.maps", "ui.tours", "msmix_core.analysis", "torch"} <= set(sys.modules)


def test_without_setups_cache_umap_compiles_in_the_background_and_the_server_starts(fresh_warmup, monkeypatch):
    monkeypatch.setattr(warmup, "cached", lambda: False)
    serve.preload()  # returns while the compile is still going on
    assert not warmup.ready()
    fresh_warmup.set()
    warmup.wait()
    assert warmup.ready()


def test_a_cache_that_does_not_load_in_time_does_not_hold_the_server(fresh_warmup, monkeypatch):
    monkeypatch.setattr(warmup, "cached", lambda: True)
    monkeypatch.setattr(serve, "UMAP_WAIT", 0.05)
    serve.preload()
    assert not warmup.ready()  # still compiling: the page shows PCA and its notice meanwhile


def test_the_cache_check_looks_for_umaps_compiled_functions(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not warmup.cached()
    (tmp_path / "umap_3ede6d").mkdir()
    (tmp_path / "umap_3ede6d" / "layouts.optimize-63.py311.nbi").write_bytes(b"")
    assert warmup.cached()


def test_main_preloads_then_runs_the_app_with_streamlits_own_options(monkeypatch, capsys):
    from streamlit.web import cli

    seen = []
    monkeypatch.setattr(serve, "preload", lambda: seen.append("preload"))
    monkeypatch.setattr(cli, "main", lambda: seen.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    serve.main(["--server.port", "8600"])
    assert seen == ["preload", ["streamlit", "run", str(serve.APP), "--server.port", "8600"]]
    assert "msmix: ready in" in capsys.readouterr().err


def test_the_set_up_steps_say_nothing_of_streamlits_missing_runtime(caplog):
    from streamlit.runtime.caching import cache_data_api

    with warmup.no_runtime_warnings():
        cache_data_api._LOGGER.warning("No runtime found, using MemoryCacheStorageManager")
    cache_data_api._LOGGER.warning("No runtime found, using MemoryCacheStorageManager")
    assert [r.getMessage() for r in caplog.records].count("No runtime found, using MemoryCacheStorageManager") == 1


def test_serving_beyond_this_machine_without_data_folders_is_warned_about():
    warn = serve.exposure_warning
    assert "0.0.0.0 without $MSMIX_DATA_DIRS" in warn(["--server.address", "0.0.0.0"], {})
    assert "10.0.0.5" in warn(["--server.address=10.0.0.5"], {})
    assert "10.0.0.6" in warn([], {"STREAMLIT_SERVER_ADDRESS": "10.0.0.6"})
    assert warn(["--server.address", "0.0.0.0"], {"MSMIX_DATA_DIRS": "/srv/data"}) is None
    assert warn(["--server.address", "127.0.0.1"], {}) is None
    assert warn(["--server.port", "8600"], {}) is None  # make run on a laptop: no address given, no noise
