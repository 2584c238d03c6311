"""Typed settings (stream/settings.py): one merge rule, and a wrong key or type in a YAML file
ends with one line naming the file and the key, for the stream settings and training configs."""

from __future__ import annotations

import doctest

import pytest
import yaml

from echostream.stream import defaults, settings
from echostream.stream.defaults import DEFAULTS_FILE, load_stream_config


def test_docstring_examples_run() -> None:
    assert doctest.testmod(settings).failed == 0
    assert doctest.testmod(defaults).failed == 0


def test_the_packaged_yaml_is_the_only_copy_of_the_defaults() -> None:
    """No user file: exactly the YAML shipped in the package, every section checked."""
    assert load_stream_config() == yaml.safe_load(DEFAULTS_FILE.read_text())
    assert DEFAULTS_FILE.parent.name == "stream"  # inside the package: wheels carry it


def test_values_yaml_reads_as_strings_are_coerced(tmp_path) -> None:
    """YAML 1.1 reads ``1e-3`` and ``5e0`` as strings; the settings arrive as numbers."""
    user = tmp_path / "user.yaml"
    user.write_text("smoother:\n  ema: {alpha: 5e-1}\nlive:\n  read_timeout: 2e0\n")
    cfg = load_stream_config(user)
    assert cfg["smoother"]["ema"]["alpha"] == 0.5 and cfg["live"]["read_timeout"] == 2.0


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("reader:\n  wokers: 4\n", "reader.wokers", "unknown key"),
        ("backend:\n  batch_size: lots\n", "backend.batch_size", "valid integer"),
        ("backend:\n  name: onnx\n", "backend.name", "'auto', 'onnxruntime'"),
        ("smoother:\n  stages: [ema, kalman]\n", "smoother.stages.1", "'ema'"),
        ("bench:\n  smoothing_settings:\n    x: {vote: {windw: 3}}\n",
         "bench.smoothing_settings.x.vote.windw", "unknown key"),
    ],
)  # fmt: skip
def test_a_wrong_key_or_type_names_the_file_and_the_key(tmp_path, text, key, problem) -> None:
    user = tmp_path / "user.yaml"
    user.write_text(text)
    with pytest.raises(ValueError) as err:
        load_stream_config(user)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{user}: {key}: ") and problem in line


def test_one_merge_rule_for_every_settings_file() -> None:
    """Mappings merge, lists replace, and a count in frames replaces its seconds form."""
    base = {"vote": {"window_s": 0.7}, "stages": ["ema", "vote"], "ema": {"alpha": 0.5}}
    merged = settings.deep_merge(base, {"vote": {"window": 9}, "stages": ["vote"]})
    assert merged == {"vote": {"window": 9}, "stages": ["vote"], "ema": {"alpha": 0.5}}
    assert base["vote"] == {"window_s": 0.7}  # the base is not changed
    assert settings.deep_merge({"a": {"patience": 3}}, {"a": {"patience_s": 0.1}}) == {
        "a": {"patience_s": 0.1}
    }
