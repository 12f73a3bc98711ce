"""
The garbage collector of a serving process (``chatsite/garbage_collection.py``):
every ASGI server loads ``chatsite.asgi``, so a process that loads it is
looked at from inside, in a process of its own. What the tuning buys (turns
per second with sixty clients) is measured by ``benchmarks/versus_baseline.py``,
not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .live_daphne import BASE_DIR

REPORT = (
    "import gc, json, chatsite.asgi; "
    "print(json.dumps({'threshold': gc.get_threshold(), 'frozen': gc.get_freeze_count()}))"
)


def load_the_site(**settings: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GC_")}
    env.update({"DJANGO_SETTINGS_MODULE": "chatsite.test_settings", **settings})
    return subprocess.run(
        [sys.executable, "-c", REPORT],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def gc_state(**settings: str) -> dict:
    loaded = load_the_site(**settings)
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout.strip().splitlines()[-1])


def test_a_process_that_loads_the_site_freezes_it_and_collects_young_objects_less_often():
    state = gc_state()
    assert state["threshold"][0] == 20_000
    # The site's modules, settings, URLconf and schemas: far more than Python alone.
    assert state["frozen"] > 100_000


def test_the_young_generation_threshold_comes_from_the_environment():
    assert gc_state(GC_GEN0_THRESHOLD="5000")["threshold"][0] == 5000


def test_the_collector_can_be_left_as_python_sets_it():
    plain = subprocess.run(
        [sys.executable, "-c", "import gc; print(gc.get_threshold()[0])"],
        capture_output=True,
        text=True,
        check=True,
    )
    state = gc_state(GC_GEN0_THRESHOLD="0", GC_FREEZE="false")
    assert state["threshold"][0] == int(plain.stdout)
    assert state["frozen"] == 0


def test_a_negative_threshold_stops_the_process_with_a_message_that_names_the_setting():
    loaded = load_the_site(GC_GEN0_THRESHOLD="-1")
    assert loaded.returncode != 0
    assert "ImproperlyConfigured: GC_GEN0_THRESHOLD must be 0 (Python's own) or more" in (
        loaded.stderr
    )
